"""The session registry on disk: claims survive a restart, one process holds it, old ids are forgotten only
past the memory (and the clock must not go back behind that), torn and foreign files are handled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swarmtrust.node.server.session_registry import SessionRefusedError, SessionRegistry, SessionRegistryError
from swarmtrust.protocol.misbehaviour import DAY_MS, MAX_SESSION_AGE_MS, PROOF_HORIZON_MS, SESSION_MEMORY_MS

KEY = bytes(range(32))
T0 = 1_795_000_000_000


def opened(directory: Path, now: list[int]) -> SessionRegistry:
    return SessionRegistry.open(directory, KEY, clock=lambda: now[0])


def test_a_claimed_id_is_refused_again_even_after_a_restart(tmp_path: Path) -> None:
    now = [T0]
    registry = opened(tmp_path, now)
    first, second = os.urandom(16), os.urandom(16)
    assert registry.claim(first) == T0
    with pytest.raises(SessionRefusedError, match="fresh random id"):
        registry.claim(first)
    registry.close()
    registry = opened(tmp_path, now)
    with pytest.raises(SessionRefusedError):
        registry.claim(first)
    assert registry.claim(second) == T0 and len(registry) == 2
    registry.close()


def test_one_process_at_a_time_holds_a_keys_registry(tmp_path: Path) -> None:
    registry = opened(tmp_path, [T0])
    with pytest.raises(SessionRegistryError, match="another server process"):
        opened(tmp_path, [T0])
    registry.close()
    opened(tmp_path, [T0]).close()


def test_ids_are_forgotten_past_the_memory_and_the_clock_may_not_go_back_behind_that(tmp_path: Path) -> None:
    now = [T0]
    registry = opened(tmp_path, now)
    old = os.urandom(16)
    registry.claim(old)
    registry.close()
    now[0] = T0 + SESSION_MEMORY_MS - 1
    registry = opened(tmp_path, now)
    assert old in registry, "still within the memory"
    registry.close()
    now[0] = T0 + SESSION_MEMORY_MS + 1
    registry = opened(tmp_path, now)
    horizon_end = T0 + MAX_SESSION_AGE_MS + PROOF_HORIZON_MS + 1  # its last receipt's horizon, just past
    assert old not in registry and registry.forgotten_at_ms == horizon_end
    now[0] = horizon_end - 1  # the clock set back
    with pytest.raises(SessionRefusedError, match="clock"):
        registry.claim(old)
    now[0] = horizon_end
    assert registry.claim(old) == horizon_end
    registry.close()


def test_a_clock_far_ahead_at_start_up_stops_signing_only_until_the_forgotten_ids_horizon(tmp_path: Path) -> None:
    """A clock that read years ahead at one start-up forgot every id; once it is right again, the server
    signs nothing until the horizon of the latest forgotten one has passed, and no longer."""
    now = [T0]
    registry = opened(tmp_path, now)
    latest = os.urandom(16)
    registry.claim(os.urandom(16))
    now[0] = T0 + 1_000
    registry.claim(latest)
    registry.close()
    now[0] = T0 + 50 * 365 * DAY_MS  # the clock reads fifty years ahead
    registry = opened(tmp_path, now)
    assert len(registry) == 0
    registry.close()
    now[0] = T0 + 2_000  # set right again
    registry = opened(tmp_path, now)
    until = T0 + 1_000 + MAX_SESSION_AGE_MS + PROOF_HORIZON_MS + 1
    assert registry.forgotten_at_ms == until
    with pytest.raises(SessionRefusedError, match="clock"):
        registry.claim(latest)
    now[0] = until
    assert registry.claim(latest) == until, "and then it signs again: not fifty years later"
    registry.close()


def test_a_serving_registry_forgets_in_memory_once_a_day_and_the_file_agrees_at_start_up(tmp_path: Path) -> None:
    now = [T0]
    registry = opened(tmp_path, now)
    old, fresh = os.urandom(16), os.urandom(16)
    registry.claim(old)
    now[0] = T0 + SESSION_MEMORY_MS + 1  # serving all along: no restart
    registry.claim(fresh)
    assert old not in registry and fresh in registry and len(registry) == 1
    in_memory = registry.forgotten_at_ms
    assert in_memory == T0 + MAX_SESSION_AGE_MS + PROOF_HORIZON_MS + 1
    registry.close()
    registry = opened(tmp_path, now)
    assert old not in registry and fresh in registry and registry.forgotten_at_ms == in_memory
    registry.close()


def test_the_memory_is_never_shorter_than_the_horizon_past_a_sessions_last_receipt() -> None:
    assert SESSION_MEMORY_MS > MAX_SESSION_AGE_MS + PROOF_HORIZON_MS  # so forgetting never stops signing now


def test_a_session_signs_nothing_past_its_age(tmp_path: Path) -> None:
    now = [T0]
    registry = opened(tmp_path, now)
    start = registry.claim(os.urandom(16))
    now[0] = T0 + MAX_SESSION_AGE_MS
    assert registry.signing_time(start) == now[0]
    now[0] += 1
    with pytest.raises(SessionRefusedError, match="new session"):
        registry.signing_time(start)
    registry.close()


def test_a_torn_last_entry_is_dropped_and_a_foreign_file_refused(tmp_path: Path) -> None:
    registry = opened(tmp_path, [T0])
    kept = os.urandom(16)
    registry.claim(kept)
    registry.close()
    path = tmp_path / f"sessions-{KEY.hex()}.log"
    with path.open("ab") as file:
        file.write(b"\x01" * 7)  # a crash in the middle of an append: that claim never returned
    registry = opened(tmp_path, [T0])
    assert kept in registry and len(registry) == 1
    registry.close()
    path.write_bytes(b"not a registry at all")
    with pytest.raises(SessionRegistryError, match="swarmtrust node keygen") as refused:
        opened(tmp_path, [T0])
    assert "aside" not in str(refused.value), "never the unsafe fix: an empty registry under the old key"
