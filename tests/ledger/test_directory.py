"""The server directory (signed announcements), administrators' actions and recorded audit runs."""

from __future__ import annotations

import pytest

from swarmtrust.ledger.directory import act_on_server, last_audit, open_announcement, record_announcement, run_audit
from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.reputation_queries import server_view
from swarmtrust.ledger.store import Ledger
from tests.builders import new_key, signed_announcement
from tests.ledger.tampering import scalar, tamper

SERVER = new_key()
LEDGER_KEY = new_key()


def events(ledger: Ledger) -> int:
    return int(scalar(ledger, "SELECT count(*) FROM events"))  # type: ignore[arg-type]


def test_an_announcement_is_recorded_once_and_heartbeats_only_refresh_presence(ledger: Ledger) -> None:
    first = signed_announcement(SERVER, name="alpha")
    assert record_announcement(ledger.engine, first).status == "recorded"
    assert scalar(ledger, "SELECT name FROM server_directory") == "alpha"
    heartbeat = signed_announcement(SERVER, name="alpha", announced_ms=first.record.announced_ms + 1000)
    result = record_announcement(ledger.engine, heartbeat)
    assert (result.status, events(ledger)) == ("refreshed", 1)
    moved = signed_announcement(
        SERVER, name="alpha", block_start=4, block_end=8, announced_ms=first.record.announced_ms + 2000
    )
    assert record_announcement(ledger.engine, moved).status == "recorded"
    assert (scalar(ledger, "SELECT block_start FROM server_directory"), events(ledger)) == (4, 2)
    older = signed_announcement(SERVER, name="beta", announced_ms=first.record.announced_ms - 1)
    assert record_announcement(ledger.engine, older).status == "stale"
    assert scalar(ledger, "SELECT name FROM server_directory") == "alpha", "an older announcement rolls nothing back"
    assert ledger.audit().ok


def test_a_forged_announcement_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    wire = bytearray(signed_announcement(SERVER).to_wire())
    wire[-1] ^= 1
    with pytest.raises(RequestRefusedError, match="signed server announcement") as refused:
        open_announcement(bytes(wire))
    assert refused.value.code == "bad_announcement"
    future = signed_announcement(SERVER, announced_ms=4_000_000_000_000, expires_ms=4_000_000_600_000)
    with pytest.raises(RequestRefusedError, match="clock"):
        record_announcement(ledger.engine, future)
    assert events(ledger) == 0 and scalar(ledger, "SELECT count(*) FROM server_presence") == 0


def test_an_altered_directory_row_is_caught_by_the_audit(ledger: Ledger) -> None:
    record_announcement(ledger.engine, signed_announcement(SERVER, name="honest-name"))
    tamper(ledger, "UPDATE server_directory SET name = 'renamed'")
    report = ledger.audit()
    assert not report.ok and report.first_bad_seq == 1
    assert any("server_directory" in p.where and "name" in p.message for p in report.problems)


def test_quarantine_and_release_by_an_administrator(ledger: Ledger) -> None:
    server = bytes(SERVER.verify_key)
    act_on_server(
        ledger.engine,
        LEDGER_KEY,
        action="quarantine",
        server_key=server,
        model_id="tiny",
        reason="abuse report",
        admin="ops",
    )
    with ledger.engine.connect() as connection:
        view = server_view(connection, server.hex(), 10**13)
    assert view["state"] == "quarantined" and view["trust"] == 0.0 and view["checks"] == 0
    act_on_server(
        ledger.engine, LEDGER_KEY, action="release", server_key=server, model_id="tiny", reason="cleared", admin="ops"
    )
    with ledger.engine.connect() as connection:
        view = server_view(connection, server.hex(), 10**13)
    assert view["state"] == "newcomer" and view["spot_check_rate"] == 1.0
    assert scalar(ledger, "SELECT count(*) FROM admin_actions") == 2
    assert (
        scalar(ledger, "SELECT signer FROM events WHERE kind = 'admin_action' LIMIT 1")
        == bytes(LEDGER_KEY.verify_key).hex()
    )
    assert ledger.audit().ok


@pytest.mark.parametrize(
    ("action", "reason", "code"), [("quarantine", "  ", "reason_required"), ("ban", "x", "bad_action")]
)
def test_an_administrators_action_needs_a_known_action_and_a_reason(
    ledger: Ledger, action: str, reason: str, code: str
) -> None:
    with pytest.raises(RequestRefusedError) as refused:
        act_on_server(
            ledger.engine, LEDGER_KEY, action=action, server_key=bytes(32), model_id="tiny", reason=reason, admin="ops"
        )
    assert refused.value.code == code and events(ledger) == 0


def test_audit_runs_are_kept(ledger: Ledger) -> None:
    assert last_audit(ledger.engine) is None
    record_announcement(ledger.engine, signed_announcement(SERVER))
    report = run_audit(ledger.engine)
    last = last_audit(ledger.engine)
    assert report.ok and last is not None and last["ok"] and last["head_seq"] == 1 and last["problems"] == 0
    tamper(ledger, "UPDATE server_directory SET state = 'offline'")
    run_audit(ledger.engine)
    last = last_audit(ledger.engine)
    assert last is not None and not last["ok"] and last["first_bad_seq"] == 1
