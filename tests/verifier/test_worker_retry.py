"""A verifier signs one verdict per assignment: when the ledger refuses it (or cannot be reached), the retry
sends the identical bytes, so an operator refusing verdicts cannot draw a new audit coin for each try. The
desk is the real one (SQLite); only the transport in between refuses on demand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApiError
from swarmtrust.protocol.signing import sign_record
from swarmtrust.verifier.worker import VerifierWorker, WorkerConfig
from tests.builders import challenge_for, evidence_session, new_key

SERVER, CLIENT, LEDGER, VERIFIER = new_key(), new_key(), new_key(), new_key()
MODEL = "tiny"  # the model of tests.builders sessions


@dataclass
class Source:
    model_id: str


@dataclass
class Spans:
    source: Source
    device_kind: str = "cpu"


class RefusingTransport:
    """``LedgerApi``'s face of a real desk: refuses the first ``refusals`` verdicts it is sent, as an operator
    that wants another coin would (or as a ledger that is down)."""

    def __init__(self, checks: SpotChecks, refusals: list[LedgerApiError]) -> None:
        self.checks, self.refusals = checks, refusals
        self.sent: list[bytes] = []

    def claim_assignment(self, models: list[str] | None = None) -> dict[str, Any] | None:
        claimed = self.checks.claim(bytes(VERIFIER.verify_key), models)
        if claimed is None:
            return None
        return {"assignment_id": claimed.assignment.record.assignment_id.hex(), "challenge": claimed.challenge}

    def submit_verdict(self, wire: bytes) -> dict[str, Any]:
        self.sent.append(wire)
        if self.refusals:
            raise self.refusals.pop(0)
        result = self.checks.submit_verdict(wire)
        return {"phase": result.phase, "outcome": result.outcome}


@pytest.mark.parametrize("refusal", [LedgerApiError(409, "conflict", "try again"), LedgerApiError(503, "down", "x")])
def test_a_refused_verdict_is_resent_unchanged(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, refusal: LedgerApiError
) -> None:
    ticks = itertools.count(1_795_000_000_000_000_000, 7_000_000)  # every signature would carry a new date
    monkeypatch.setattr("swarmtrust.verifier.worker.time.time_ns", lambda: next(ticks))
    checks = SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
    receipts, evidence = evidence_session(SERVER, 2)
    encoded = evidence.encode()
    checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded)
    transport = RefusingTransport(checks, [refusal, refusal])
    worker = VerifierWorker(transport, VERIFIER, Spans(Source(MODEL)), {},  # type: ignore[arg-type]
                            WorkerConfig(behavior="always-pass"))  # fmt: skip
    signatures: list[Any] = []

    def counted_sign(record: Any, key: Any) -> Any:
        signatures.append(record)
        return sign_record(record, key)

    monkeypatch.setattr("swarmtrust.verifier.worker.sign_record", counted_sign)
    for _ in range(2):
        with pytest.raises(LedgerApiError):
            worker.work_once()
    assert worker.work_once()
    assert len(transport.sent) == 3 and len(set(transport.sent)) == 1, "one verdict, sent three times"
    assert len(signatures) == 1
    assert not worker._signed, "forgotten once the ledger took it"
    assert ledger.audit().ok


def test_a_final_refusal_forgets_the_verdict(ledger: Ledger) -> None:
    checks = SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
    receipts, evidence = evidence_session(SERVER, 2)
    encoded = evidence.encode()
    checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded)
    transport = RefusingTransport(checks, [LedgerApiError(409, "reassigned", "gone to another verifier")])
    worker = VerifierWorker(transport, VERIFIER, Spans(Source(MODEL)), {},  # type: ignore[arg-type]
                            WorkerConfig(behavior="always-pass"))  # fmt: skip
    with pytest.raises(LedgerApiError):
        worker.work_once()
    assert not worker._signed, "a reassigned slot is never answered again"
