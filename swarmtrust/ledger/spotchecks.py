"""The ledger's side of spot checks, as one desk: ``SpotChecks`` joins its three parts.

    submit_challenge  ``ledger.spotcheck_intake``: evidence checked against the server's signed digests; forged
                      evidence is refused and recorded against its submitter; the receipts join the ledger
                      with the challenge
    claim             ``ledger.spotcheck_assignment``: the next assignment for a verifier, drawn by reliability
    submit_verdict    ``ledger.spotcheck_adjudication``: verdicts, rounds (disputes, audits) and outcomes

What they share (the policy, the key, the clock, the audit beacon, the write transaction) is
``ledger.spotcheck_desk``. Every decision is a ledger-signed event in the same transaction as what caused it,
taken by the rules of consensus last logged (a ``consensus_policy`` event, logged at this process's first
write when its policy differs), so that the audit can re-run each one (``ledger.consensus_audit``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import nacl.signing
from sqlalchemy import Engine

from swarmtrust.ledger.beacon_keeper import AuditBeacon
from swarmtrust.ledger.eventlog import now_ms
from swarmtrust.ledger.spotcheck_adjudication import Adjudication
from swarmtrust.ledger.spotcheck_assignment import Assignments
from swarmtrust.ledger.spotcheck_desk import (
    ChallengeResult,
    Claimed,
    SpotCheckDesk,
    SpotCheckError,
    SpotCheckPolicy,
    VerdictResult,
    current_rules,
    logged_rules,
)
from swarmtrust.ledger.spotcheck_intake import Intake

__all__ = [
    "ChallengeResult",
    "Claimed",
    "SpotCheckError",
    "SpotCheckPolicy",
    "SpotChecks",
    "VerdictResult",
    "current_rules",
    "logged_rules",
]


class SpotChecks:
    def __init__(
        self,
        engine: Engine,
        key: nacl.signing.SigningKey,
        policy: SpotCheckPolicy | None = None,
        *,
        clock: Callable[[], int] = now_ms,
        beacon: AuditBeacon | None = None,
    ) -> None:
        self.desk = SpotCheckDesk(engine, key, policy, clock=clock, beacon=beacon)
        self.intake = Intake(self.desk)
        self.assignments = Assignments(self.desk)
        self.adjudication = Adjudication(self.desk, self.assignments)

    @property
    def policy(self) -> SpotCheckPolicy:
        return self.desk.policy

    def submit_challenge(
        self, challenge_wire: bytes, evidence: bytes, *, sent_by: bytes | None = None
    ) -> ChallengeResult:
        return self.intake.submit_challenge(challenge_wire, evidence, sent_by=sent_by)

    def evidence(self, verifier_key: bytes, digest: str) -> bytes:
        return self.intake.evidence(verifier_key, digest)

    def claim(self, verifier_key: bytes, models: Collection[str] | None = None) -> Claimed | None:
        return self.assignments.claim(verifier_key, models, self.adjudication.advance)

    def submit_verdict(self, verdict_wire: bytes, *, sent_by: bytes | None = None) -> VerdictResult:
        return self.adjudication.submit_verdict(verdict_wire, sent_by=sent_by)
