"""The ledger's handling of challenges, assignments, verdicts and consensus, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.ledger.spotchecks import Claimed, SpotCheckError, SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.evidence import Evidence
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict
from tests.ledger.tampering import scalar

SERVER, CLIENT, LEDGER = new_key(), new_key(), new_key()
V1, V2, V3, V4 = (new_key() for _ in range(4))


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


@dataclass
class Clock:
    now: int = 1_795_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def desk(ledger: Ledger, clock: Clock, **policy: Any) -> SpotChecks:
    settings = {"audit_rate": 0.0, "max_audit_rate": 0.0, "assignment_ttl_ms": 10_000} | policy
    return SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy(**settings), clock=clock)


def submit(checks: SpotChecks, steps: int = 4) -> tuple[str, Any]:
    receipts, evidence = evidence_session(SERVER, steps)
    encoded = evidence.encode()
    challenge = challenge_for(CLIENT, receipts, encoded)
    result = checks.submit_challenge(challenge.to_wire(), encoded)
    assert result.status == "accepted"
    return result.challenge_id, challenge.record


def verdict(verifier: Any, claimed: Any, outcome: str, clock: Clock) -> bytes:
    return signed_verdict(verifier, claimed, outcome, clock.now)


def holder(checks: SpotChecks, verifiers: tuple[Any, ...]) -> tuple[Any, Claimed]:
    """Each of ``verifiers`` asks for work once; exactly one of them holds the open slot (the draw's pick,
    whoever asked first): that one and its assignment."""
    got = [(v, c) for v in verifiers if (c := checks.claim(bytes(v.verify_key))) is not None]
    assert len(got) == 1, f"{len(got)} verifiers hold an assignment"
    return got[0]


def test_a_challenge_brings_its_receipts_and_evidence(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    receipts, evidence = evidence_session(SERVER, 5)
    encoded = evidence.encode()
    challenge = challenge_for(CLIENT, receipts, encoded)
    first = checks.submit_challenge(challenge.to_wire(), encoded)
    assert first.status == "accepted"
    assert checks.submit_challenge(challenge.to_wire(), encoded).status == "duplicate"
    assert scalar(ledger, "SELECT COUNT(*) FROM receipts") == 5
    assert scalar(ledger, "SELECT COUNT(*) FROM challenges") == 1
    assert scalar(ledger, "SELECT phase FROM challenges") == "initial"
    assert ledger.audit().ok


@pytest.mark.parametrize("tamper", ["output", "input", "receipt", "reorder"])
def test_forged_evidence_is_refused_and_blamed_on_its_submitter(ledger: Ledger, clock: Clock, tamper: str) -> None:
    checks = desk(ledger, clock)
    receipts, evidence = evidence_session(SERVER, 4)
    outputs, inputs, wires = list(evidence.outputs), list(evidence.inputs), list(evidence.receipts)
    if tamper == "output":
        outputs[2] = os.urandom(len(outputs[2]))  # the tensors a framing client would like to show
    elif tamper == "input":
        inputs[0] = bytes(len(inputs[0]))
    elif tamper == "receipt":
        wires[1] = wires[1][:-1] + bytes([wires[1][-1] ^ 1])
    else:
        wires[1], wires[2] = wires[2], wires[1]
    forged = Evidence(tuple(wires), tuple(inputs), tuple(outputs)).encode()
    challenge = challenge_for(CLIENT, receipts, forged)
    with pytest.raises(SpotCheckError) as refused:
        checks.submit_challenge(challenge.to_wire(), forged)
    assert refused.value.code == "forged_evidence" and refused.value.status == 422
    assert scalar(ledger, "SELECT COUNT(*) FROM challenges") == 0
    assert scalar(ledger, "SELECT COUNT(*) FROM receipts") == 0
    assert scalar(ledger, "SELECT rejected_evidence FROM submitters WHERE public_key = :k", k=hexkey(CLIENT)) == 1
    assert scalar(ledger, "SELECT subject FROM events WHERE kind = 'evidence_rejected'") == hexkey(CLIENT)
    assert ledger.audit().ok


def test_a_challenge_must_name_the_evidence_sent(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    receipts, evidence = evidence_session(SERVER, 2)
    challenge = challenge_for(CLIENT, receipts, evidence.encode())
    with pytest.raises(SpotCheckError, match="not the one the challenge names"):
        checks.submit_challenge(challenge.to_wire(), evidence.encode() + b"\x00")
    with pytest.raises(SpotCheckError, match="does not verify"):
        checks.submit_challenge(challenge.to_wire()[:-3], evidence.encode())
    assert scalar(ledger, "SELECT COUNT(*) FROM events") == 0


def test_a_pass_decides_at_once_when_not_audited(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    cid, _ = submit(checks)
    claimed = checks.claim(bytes(V1.verify_key))
    assert claimed is not None and claimed.assignment.record.round == "initial"
    again = checks.claim(bytes(V1.verify_key))
    assert again is not None and again.assignment.record.assignment_id == claimed.assignment.record.assignment_id
    assert checks.claim(bytes(V2.verify_key)) is None, "one verifier is enough for the first round"
    result = checks.submit_verdict(verdict(V1, claimed, "pass", clock))
    assert (result.phase, result.outcome) == ("decided", "pass")
    assert checks.submit_verdict(verdict(V1, claimed, "pass", clock)).status == "duplicate"
    assert scalar(ledger, "SELECT outcome FROM challenges WHERE challenge_id = :c", c=cid) == "pass"
    assert ledger.audit().ok


def test_the_accused_and_the_submitter_never_verify(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    submit(checks)
    assert checks.claim(bytes(SERVER.verify_key)) is None
    assert checks.claim(bytes(CLIENT.verify_key)) is None
    assert checks.claim(bytes(V1.verify_key)) is not None


def test_a_failure_is_disputed_and_the_weighted_majority_decides(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    everyone = (V1, V2, V3, V4)
    for verifier in everyone:  # present: they asked for work recently
        assert checks.claim(bytes(verifier.verify_key)) is None
    cid, _ = submit(checks)
    first, claimed = holder(checks, everyone)
    after = checks.submit_verdict(verdict(first, claimed, "fail", clock))
    assert (after.phase, after.outcome) == ("dispute", None)
    assert scalar(ledger, "SELECT state FROM disputes WHERE challenge_id = :c", c=cid) == "open"
    others = tuple(v for v in everyone if v is not first)
    drawn = [v for v in others if checks.claim(bytes(v.verify_key)) is not None]
    assert len(drawn) == 2, "k = 2 more verifiers, drawn among those present"
    for verifier in drawn:
        claimed_again = checks.claim(bytes(verifier.verify_key))
        assert claimed_again is not None and claimed_again.assignment.record.round == "dispute"
        last = checks.submit_verdict(verdict(verifier, claimed_again, "pass", clock))
    # Two passes against one failure at equal reliability is not a clear majority: the dispute grows to the
    # one verifier left, and three passes against one failure decide.
    assert (last.phase, last.outcome) == ("dispute", None)
    (remaining,) = [v for v in others if v not in drawn]
    escalated = checks.claim(bytes(remaining.verify_key))
    assert escalated is not None and escalated.assignment.record.round == "dispute"
    final = checks.submit_verdict(verdict(remaining, escalated, "pass", clock))
    assert (final.phase, final.outcome) == ("decided", "pass")
    assert scalar(ledger, "SELECT outcome FROM disputes WHERE challenge_id = :c", c=cid) == "pass"
    assert scalar(ledger, "SELECT verifiers_wanted FROM disputes WHERE challenge_id = :c", c=cid) == 4
    assert scalar(ledger, "SELECT disagreements FROM verifiers WHERE public_key = :k", k=hexkey(first)) == 1
    assert ledger.audit().ok


def test_a_clear_failure_is_decided_by_the_dispute(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    everyone = (V1, V2, V3)
    for verifier in everyone:
        assert checks.claim(bytes(verifier.verify_key)) is None
    _cid, _ = submit(checks)
    first, claimed = holder(checks, everyone)
    checks.submit_verdict(verdict(first, claimed, "fail", clock))
    for verifier in (v for v in everyone if v is not first):
        last = checks.submit_verdict(verdict(verifier, checks.claim(bytes(verifier.verify_key)), "fail", clock))
    assert (last.phase, last.outcome) == ("decided", "fail")
    assert scalar(ledger, "SELECT quarantined FROM reputations WHERE server_key = :k", k=hexkey(SERVER)) in (1, True)
    assert ledger.audit().ok


def test_a_missed_deadline_hands_the_challenge_to_another_verifier(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    cid, _ = submit(checks)
    stalled = checks.claim(bytes(V1.verify_key))
    assert stalled is not None
    assert checks.claim(bytes(V2.verify_key)) is None
    clock.now += 10_001
    taken_over = checks.claim(bytes(V2.verify_key))
    assert taken_over is not None
    assert taken_over.assignment.record.replaces == stalled.assignment.record.assignment_id
    with pytest.raises(SpotCheckError) as late:
        checks.submit_verdict(verdict(V1, stalled, "pass", clock))
    assert late.value.code == "reassigned"
    assert checks.submit_verdict(verdict(V2, taken_over, "pass", clock)).outcome == "pass"
    states = {scalar(ledger, "SELECT state FROM assignments WHERE verifier_key = :k", k=hexkey(v)) for v in (V1, V2)}
    assert states == {"replaced", "answered"}
    assert scalar(ledger, "SELECT outcome FROM challenges WHERE challenge_id = :c", c=cid) == "pass"
    assert ledger.audit().ok


def test_verdicts_are_only_taken_from_the_assigned_verifier(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    submit(checks)
    claimed = checks.claim(bytes(V1.verify_key))
    with pytest.raises(SpotCheckError) as other:
        checks.submit_verdict(verdict(V2, claimed, "fail", clock))
    assert other.value.status == 403
    with pytest.raises(SpotCheckError, match="does not verify"):
        checks.submit_verdict(b"\x92\xc4\x01x\xc4\x01y")
    with pytest.raises(SpotCheckError) as relayed:  # V1's own verdict, but sent in a request V2 signed
        checks.submit_verdict(verdict(V1, claimed, "fail", clock), sent_by=bytes(V2.verify_key))
    assert (relayed.value.status, relayed.value.code) == (403, "not_yours")
    assert scalar(ledger, "SELECT COUNT(*) FROM verdicts") == 0
    assert checks.submit_verdict(verdict(V1, claimed, "pass", clock), sent_by=bytes(V1.verify_key)).status == "accepted"


def test_passes_are_audited_when_the_policy_says_so(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock, audit_rate=1.0, max_audit_rate=1.0)
    for verifier in (V1, V2):
        assert checks.claim(bytes(verifier.verify_key)) is None
    cid, _ = submit(checks)
    first, claimed = holder(checks, (V1, V2))
    assert checks.submit_verdict(verdict(first, claimed, "pass", clock)).phase == "audit"
    (auditor,) = (v for v in (V1, V2) if v is not first)
    audit = checks.claim(bytes(auditor.verify_key))
    assert audit is not None and audit.assignment.record.round == "audit"
    # The auditor finds a failure: a dispute follows, and nobody is decided against on two verifiers' word:
    # with nobody else to draw, the dispute stays open, short of its quorum of 1 + k = 3 verdicts.
    assert checks.submit_verdict(verdict(auditor, audit, "fail", clock)).phase == "dispute"
    clock.now += 10_001
    for verifier in (V1, V2):
        assert checks.claim(bytes(verifier.verify_key)) is None
    assert scalar(ledger, "SELECT phase FROM challenges WHERE challenge_id = :c", c=cid) == "dispute"
    assert ledger.audit().ok


def test_a_failure_short_of_its_quorum_waits_for_more_verifiers(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    everyone = (V1, V2, V3)
    for verifier in everyone:
        assert checks.claim(bytes(verifier.verify_key)) is None
    cid, _ = submit(checks)
    first, claimed = holder(checks, everyone)
    checks.submit_verdict(verdict(first, claimed, "fail", clock))
    second = next(v for v in everyone if v is not first and checks.claim(bytes(v.verify_key)) is not None)
    answered = checks.submit_verdict(verdict(second, checks.claim(bytes(second.verify_key)), "fail", clock))
    assert answered.phase == "dispute"  # the third was drawn too, and never answers
    clock.now += 10_001
    assert checks.claim(bytes(first.verify_key)) is None  # nobody eligible is left to take the third's place ...
    # ... and two verdicts are not the documented 1 + k = 3: no conviction, the dispute stays open.
    assert scalar(ledger, "SELECT phase FROM challenges WHERE challenge_id = :c", c=cid) == "dispute"
    assert scalar(ledger, "SELECT state FROM disputes WHERE challenge_id = :c", c=cid) == "open"
    assert scalar(ledger, "SELECT COUNT(*) FROM reputations WHERE fails > 0") == 0
    newcomer = checks.claim(bytes(V4.verify_key))  # a verifier joins: it takes the vanished one's slot
    assert newcomer is not None and newcomer.assignment.record.round == "dispute"
    decided = checks.submit_verdict(verdict(V4, newcomer, "fail", clock))
    assert (decided.phase, decided.outcome) == ("decided", "fail")
    assert scalar(ledger, "SELECT COUNT(*) FROM verdicts WHERE challenge_id = :c", c=cid) == 3
    assert ledger.audit().ok


def test_a_pass_may_still_be_settled_with_the_verdicts_in(ledger: Ledger, clock: Clock) -> None:
    checks = desk(ledger, clock)
    everyone = (V1, V2, V3)
    for verifier in everyone:
        assert checks.claim(bytes(verifier.verify_key)) is None
    cid, _ = submit(checks)
    first, claimed = holder(checks, everyone)
    checks.submit_verdict(verdict(first, claimed, "fail", clock))
    second = next(v for v in everyone if v is not first and checks.claim(bytes(v.verify_key)) is not None)
    checks.submit_verdict(verdict(second, checks.claim(bytes(second.verify_key)), "pass", clock))
    clock.now += 10_001
    assert checks.claim(bytes(first.verify_key)) is None
    # A tie at equal reliability is a pass, and a pass harms nobody: it is decided on the two verdicts in.
    assert scalar(ledger, "SELECT outcome FROM challenges WHERE challenge_id = :c", c=cid) == "pass"
    assert ledger.audit().ok
