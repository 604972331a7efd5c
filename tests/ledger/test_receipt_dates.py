"""A server dates its own receipts, so the ledger refuses, at ingest and at challenge admission, a receipt
dated further in the future than ``RECEIPT_CLOCK_SLACK_MS`` of its clock (SQLite and PostgreSQL): a server
cannot sign the twin of a receipt its client holds dated beyond the proof horizon and have the ledger take
it. Nothing of a refused receipt or challenge is written, the good receipts beside it are taken, and the
audit stays clean."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmtrust.ledger.eventlog import now_ms
from swarmtrust.ledger.ingest import ingest_receipts
from swarmtrust.ledger.misbehaviour import Convictions
from swarmtrust.ledger.spotchecks import SpotCheckError, SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.misbehaviour import DAY_MS, PROOF_HORIZON_MS, RECEIPT_CLOCK_SLACK_MS
from tests.builders import challenge_for, evidence_session, new_key, resign, session_receipts, signed_receipt
from tests.ledger.tampering import scalar

LEDGER_KEY = new_key()
T0 = now_ms() + 365 * DAY_MS  # the ledger's clock, ahead of the wall clock (a lagging one never refuses)


def events(ledger: Ledger) -> int:
    found = scalar(ledger, "SELECT count(*) FROM events")
    assert isinstance(found, int)
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ahead=st.integers(min_value=-PROOF_HORIZON_MS, max_value=2 * PROOF_HORIZON_MS))
def test_ingest_takes_a_receipt_only_up_to_the_slack_ahead_of_its_clock(ledger: Ledger, ahead: int) -> None:
    server = new_key()
    dated = signed_receipt(server, timestamp_ms=T0 + ahead)
    honest = signed_receipt(server, timestamp_ms=T0)
    before = events(ledger)
    results = ingest_receipts(ledger.engine, [dated.to_wire(), honest.to_wire()], clock=lambda: T0)
    if ahead > RECEIPT_CLOCK_SLACK_MS:
        assert (results[0].status, results[0].reason) == ("rejected", "future")
        assert "set its clock right" in (results[0].message or "")
        assert events(ledger) == before + 1, "only the good receipt beside it"
    else:
        assert results[0].status == "accepted"
        assert events(ledger) == before + 2
    assert results[1].status == "accepted"


def test_the_twin_dated_beyond_the_horizon_is_refused_and_the_clients_copy_then_convicts(ledger: Ledger) -> None:
    """The attack: the server signs its client a receipt now and, for the ledger, a different one dated a
    horizon later. The ledger refuses the late twin, so the client's copy goes in; a twin dated within the
    slack convicts at once."""
    server = new_key()
    desk = Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0)
    (clients,) = session_receipts(server, 1, timestamp_ms=T0)
    far = resign(clients.record, server, output_digest=os.urandom(32), timestamp_ms=T0 + PROOF_HORIZON_MS + 1)
    (result,) = ingest_receipts(ledger.engine, [far.to_wire()], clock=lambda: T0, on_conflict=desk.conflict_hook())
    assert (result.status, result.reason) == ("rejected", "future")
    (taken,) = ingest_receipts(ledger.engine, [clients.to_wire()], clock=lambda: T0, on_conflict=desk.conflict_hook())
    assert taken.status == "accepted"
    near = resign(clients.record, server, output_digest=os.urandom(32), timestamp_ms=T0 + RECEIPT_CLOCK_SLACK_MS)
    (twin,) = ingest_receipts(ledger.engine, [near.to_wire()], clock=lambda: T0, on_conflict=desk.conflict_hook())
    assert (twin.status, twin.reason) == ("rejected", "conflict") and "stands convicted" in (twin.message or "")
    assert scalar(ledger, "SELECT count(*) FROM convictions") == 1
    assert ledger.audit().ok


def test_a_challenge_holding_a_receipt_dated_ahead_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    server, client = new_key(), new_key()
    ahead = now_ms() + RECEIPT_CLOCK_SLACK_MS + 60_000  # past the slack of the ledger's (wall) clock
    receipts, evidence = evidence_session(server, 3, timestamp_ms=ahead)
    encoded = evidence.encode()
    before = events(ledger)
    with pytest.raises(SpotCheckError) as refused:
        desk = SpotChecks(ledger.engine, LEDGER_KEY, SpotCheckPolicy())
        desk.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
    assert (refused.value.code, refused.value.status) == ("future_receipt", 422)
    assert events(ledger) == before, "nothing recorded, not even against the submitter"
    assert scalar(ledger, "SELECT count(*) FROM receipts") == 0
    later = SpotChecks(ledger.engine, LEDGER_KEY, SpotCheckPolicy(), clock=lambda: ahead)  # the same, in time
    assert later.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded).status == "accepted"
    assert ledger.audit().ok
