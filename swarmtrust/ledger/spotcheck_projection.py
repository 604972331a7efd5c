"""Derived tables of spot checks: challenges, assignments, verdicts, disputes, verifiers, submitters, the
reputations their outcomes (and administrators' actions) make (``ledger.reputation_projection``), the
audit coins with the seeds they are drawn from (``ledger.beacon_projection``), and the rules of consensus in
force. The audit's replay also re-runs the consensus logic on every draw, round and outcome
(``ledger.consensus_audit``).

One fold per event kind, written against a ``RowStore`` (see ``ledger.rowstore``), so that the write path
and the audit derive the same rows by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from typing_extensions import assert_never

from swarmtrust.ledger.beacon_projection import (
    VerdictSeen,
    check_coins,
    fold_audit_draw,
    fold_seed_commitment,
    fold_seed_reveal,
)
from swarmtrust.ledger.consensus_audit import ConsensusAudit
from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.models import (
    AdminActionRow,
    AssignmentRow,
    AuditDrawRow,
    AuditSeedRow,
    ChallengeRow,
    CohortRow,
    ConsensusPolicyRow,
    DisputeRow,
    EvidenceBlob,
    ReputationRow,
    SubmitterRow,
    VerdictRow,
    VerifierRow,
)
from swarmtrust.ledger.projections import AuditProblem, Projection, Replay, compare_table
from swarmtrust.ledger.reputation_projection import fold_admin_action, fold_misbehaviour, fold_outcome
from swarmtrust.ledger.rowstore import MemoryRows, RowStore, SqlRows
from swarmtrust.ledger.statements import (
    AdminAction,
    Assignment,
    AuditDraw,
    ConsensusPolicy,
    EvidenceRejection,
    Outcome,
    RoundOpened,
    SeedCommitment,
    SeedReveal,
)
from swarmtrust.protocol.challenges import Challenge, Verdict
from swarmtrust.protocol.evidence import evidence_digest
from swarmtrust.protocol.misbehaviour import MisbehaviourProof

# The record types the spot-check tables fold, one fold each (``fold``'s match: mypy refuses one left out).
FOLDED = (
    Challenge,
    EvidenceRejection,
    Assignment,
    RoundOpened,
    Verdict,
    Outcome,
    AdminAction,
    MisbehaviourProof,
    SeedCommitment,
    SeedReveal,
    AuditDraw,
    ConsensusPolicy,
)


def fold(rows: RowStore, event: LoggedEvent) -> None:
    record, seq = event.record, event.seq
    if not isinstance(record, FOLDED):
        raise TypeError(f"the spot-check tables do not fold a {type(record).__name__}")
    match record:
        case Challenge():
            _challenge(rows, seq, record)
        case EvidenceRejection():
            _evidence_rejected(rows, seq, record)
        case Assignment():
            _assignment(rows, seq, record)
        case RoundOpened():
            _round(rows, seq, record)
        case Verdict():
            _verdict(rows, seq, record)
        case Outcome():
            _outcome(rows, seq, record)
        case AdminAction():
            _admin_action(rows, seq, record)
        case MisbehaviourProof():  # a conviction by the server's own signatures: a decided FAIL, at the ledger's time
            fold_misbehaviour(rows, seq, record, at_ms=event.recorded_ms)
        case SeedCommitment():
            fold_seed_commitment(rows, seq, record)
        case SeedReveal():
            fold_seed_reveal(rows, seq, record)
        case AuditDraw():
            fold_audit_draw(rows, seq, record)
        case ConsensusPolicy():
            _consensus_policy(rows, seq, record)
        case _:
            assert_never(record)


def _challenge(rows: RowStore, seq: int, c: Challenge) -> None:
    rows.put(
        ChallengeRow,
        {
            "challenge_id": c.challenge_id.hex(),
            "event_seq": seq,
            "submitter_key": c.submitter_key.hex(),
            "server_key": c.server_key.hex(),
            "model_id": c.model_id,
            "session_id": c.session_id.hex(),
            "block_start": c.block_start,
            "block_end": c.block_end,
            "dtype": c.dtype,
            "first_step": c.first_step,
            "steps": c.steps,
            "evidence_digest": c.evidence_digest.hex(),
            "submitted_ms": c.submitted_ms,
            "phase": "initial",
            "verifiers_wanted": 1,
            "outcome": None,
            "outcome_seq": None,
        },
    )
    _tally_submitter(rows, c.submitter_key.hex(), "challenges")


def _evidence_rejected(rows: RowStore, seq: int, r: EvidenceRejection) -> None:
    _tally_submitter(rows, r.submitter_key.hex(), "rejected_evidence")


def _tally_submitter(rows: RowStore, key: str, column: str) -> None:
    row = rows.get(SubmitterRow, key) or {
        "public_key": key,
        "challenges": 0,
        "rejected_evidence": 0,
        "invalid_evidence": 0,
    }
    row[column] += 1
    rows.put(SubmitterRow, row)


def _assignment(rows: RowStore, seq: int, a: Assignment) -> None:
    rows.put(
        AssignmentRow,
        {
            "assignment_id": a.assignment_id.hex(),
            "event_seq": seq,
            "challenge_id": a.challenge_id.hex(),
            "server_key": a.server_key.hex(),
            "verifier_key": a.verifier_key.hex(),
            "round": a.round,
            "replaces": a.replaces.hex() if a.replaces else None,
            "assigned_ms": a.assigned_ms,
            "deadline_ms": a.deadline_ms,
            "state": "open",
        },
    )
    if a.replaces is not None:
        old = rows.get(AssignmentRow, a.replaces.hex())
        if old is not None:
            rows.put(AssignmentRow, old | {"state": "replaced"})
    verifier = _verifier(rows, a.verifier_key.hex(), seq)
    verifier["assignments"] += 1
    rows.put(VerifierRow, verifier)


def _verifier(rows: RowStore, key: str, seq: int) -> dict[str, Any]:
    return rows.get(VerifierRow, key) or {
        "public_key": key,
        "first_seq": seq,
        "assignments": 0,
        "verdicts": 0,
        "agreements": 0,
        "disagreements": 0,
    }


def _round(rows: RowStore, seq: int, r: RoundOpened) -> None:
    challenge = rows.get(ChallengeRow, r.challenge_id.hex())
    if challenge is None:
        return
    rows.put(ChallengeRow, challenge | {"phase": r.round, "verifiers_wanted": r.verifiers_wanted})
    dispute = rows.get(DisputeRow, r.challenge_id.hex())
    if r.round == "dispute" and dispute is not None:  # a split dispute grows
        rows.put(DisputeRow, dispute | {"verifiers_wanted": r.verifiers_wanted})
    elif r.round == "dispute":
        rows.put(
            DisputeRow,
            {
                "challenge_id": r.challenge_id.hex(),
                "server_key": r.server_key.hex(),
                "opened_seq": seq,
                "verifiers_wanted": r.verifiers_wanted,
                "state": "open",
                "outcome": None,
                "closed_seq": None,
            },
        )


def _verdict(rows: RowStore, seq: int, v: Verdict) -> None:
    assignment = rows.get(AssignmentRow, v.assignment_id.hex())
    rows.put(
        VerdictRow,
        {
            "assignment_id": v.assignment_id.hex(),
            "event_seq": seq,
            "challenge_id": v.challenge_id.hex(),
            "verifier_key": v.verifier_key.hex(),
            "server_key": v.server_key.hex(),
            "round": assignment["round"] if assignment else "initial",
            "outcome": v.outcome,
            "steps_checked": v.steps_checked,
            "worst_step": v.worst_step,
            "max_rel_error": v.max_rel_error,
            "mean_rel_error": v.mean_rel_error,
            "decided_ms": v.decided_ms,
        },
    )
    if assignment is not None:
        rows.put(AssignmentRow, assignment | {"state": "answered"})
    verifier = _verifier(rows, v.verifier_key.hex(), seq)
    verifier["verdicts"] += 1
    rows.put(VerifierRow, verifier)


def _outcome(rows: RowStore, seq: int, o: Outcome) -> None:
    challenge = rows.get(ChallengeRow, o.challenge_id.hex())
    if challenge is not None:
        rows.put(ChallengeRow, challenge | {"phase": "decided", "outcome": o.outcome, "outcome_seq": seq})
        if o.outcome == "invalid_evidence":
            _tally_submitter(rows, challenge["submitter_key"], "invalid_evidence")
    dispute = rows.get(DisputeRow, o.challenge_id.hex())
    if dispute is not None:
        rows.put(DisputeRow, dispute | {"state": "closed", "outcome": o.outcome, "closed_seq": seq})
    for assignment_id in o.verdicts:
        verdict = rows.get(VerdictRow, assignment_id.hex())
        if verdict is None:
            continue
        verifier = _verifier(rows, verdict["verifier_key"], seq)
        verifier["agreements" if verdict["outcome"] == o.outcome else "disagreements"] += 1
        rows.put(VerifierRow, verifier)
    fold_outcome(rows, seq, o)


def _admin_action(rows: RowStore, seq: int, a: AdminAction) -> None:
    rows.put(
        AdminActionRow,
        {
            "event_seq": seq,
            "action": a.action,
            "server_key": a.server_key.hex(),
            "model_id": a.model_id,
            "reason": a.reason,
            "admin": a.admin,
            "acted_ms": a.acted_ms,
        },
    )
    fold_admin_action(rows, seq, a)


def _consensus_policy(rows: RowStore, seq: int, p: ConsensusPolicy) -> None:
    rows.put(
        ConsensusPolicyRow,
        {
            "id": 1,
            "event_seq": seq,
            "dispute_verifiers": p.dispute_verifiers,
            "audit_rate": p.audit_rate,
            "max_audit_rate": p.max_audit_rate,
        },
    )


TABLES: dict[type[Any], Any] = {
    ChallengeRow: lambda row: row["event_seq"],
    AssignmentRow: lambda row: row["event_seq"],
    VerdictRow: lambda row: row["event_seq"],
    DisputeRow: lambda row: row["opened_seq"],
    VerifierRow: lambda row: row["first_seq"],
    SubmitterRow: lambda row: None,
    ReputationRow: lambda row: row["first_seq"],
    CohortRow: lambda row: None,
    AdminActionRow: lambda row: row["event_seq"],
    AuditSeedRow: lambda row: row["committed_seq"] or row["revealed_seq"],
    AuditDrawRow: lambda row: row["event_seq"],
    ConsensusPolicyRow: lambda row: row["event_seq"],
}


class SpotCheckProjection(Projection):
    records = FOLDED

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        rows = SqlRows(connection)
        for event in events:
            fold(rows, event)
        rows.flush()

    def replay(self) -> Replay:
        return SpotCheckReplay()


class SpotCheckReplay(Replay):
    def __init__(self) -> None:
        self.rows = MemoryRows()
        self.verdicts: dict[str, VerdictSeen] = {}  # by assignment id: what the coin check needs
        self.coins_checked = 0
        self.coins_awaiting_reveal = 0
        self.consensus = ConsensusAudit()  # the operator's draws, rounds and outcomes, re-run

    def feed(self, event: LoggedEvent) -> None:
        self.consensus.before(self.rows, event)
        fold(self.rows, event)
        if isinstance(verdict := event.record, Verdict):
            aid = verdict.assignment_id.hex()
            self.verdicts.setdefault(aid, VerdictSeen(event.seq, event.signed.digest.hex()))
            self.consensus.after_verdict(self.rows, event)

    def compare(self, connection: Connection) -> list[AuditProblem]:
        problems: list[AuditProblem] = []
        for model, seq_of in TABLES.items():
            key_column = next(iter(model.__table__.primary_key.columns)).name
            problems += compare_table(connection, model, key_column, self.rows.tables.get(model, {}), seq_of=seq_of)
        coins = check_coins(self.rows.tables, self.verdicts)
        self.coins_checked, self.coins_awaiting_reveal = coins.checked, coins.awaiting_reveal
        return problems + coins.problems + self.consensus.finish() + self._check_evidence(connection)

    def _check_evidence(self, connection: Connection) -> list[AuditProblem]:
        """Every challenge's evidence is stored, and hashes to the digest the challenge committed to."""
        problems = []
        for challenge in self.rows.tables.get(ChallengeRow, {}).values():
            digest = challenge["evidence_digest"]
            body = connection.execute(select(EvidenceBlob.body).where(EvidenceBlob.digest == digest)).scalar()
            if body is None:
                problems.append(AuditProblem(challenge["event_seq"], f"evidence[{digest}]", "evidence is missing"))
            elif evidence_digest(bytes(body)).hex() != digest:
                problems.append(AuditProblem(challenge["event_seq"], f"evidence[{digest}]", "evidence was altered"))
        return problems
