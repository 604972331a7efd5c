"""The session registry on disk: claims survive a restart, one process holds it, old ids are forgotten only
past the memory (and the clock must not go back behind that), torn and foreign files are handled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.misbehaviour import DAY_MS, MAX_SESSION_AGE_MS, SESSION_MEMORY_MS
from node.server.session_registry import SessionRefusedError, SessionRegistry, SessionRegistryError

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
    assert old not in registry and registry.forgotten_at_ms == now[0]
    now[0] -= DAY_MS  # the clock set back
    with pytest.raises(SessionRefusedError, match="clock"):
        registry.claim(old)
    now[0] += DAY_MS
    assert registry.claim(old) == T0 + SESSION_MEMORY_MS + 1
    registry.close()


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
    with pytest.raises(SessionRegistryError, match="move it aside"):
        opened(tmp_path, [T0])
