"""The ``convictions`` table as a fold of misbehaviour events: applied on write, replayed by the audit.

Its consequences (quarantine, refund, slash, bounty) are folded by the reputation and market projections,
each in its own tables; this one records the conviction itself and, in the audit, names any misbehaviour
event that does not prove what it claims, comes from a clock far from the ledger's, or convicts a server a
second time for one session (the write path never records either).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.market_rules import hold_id
from swarmtrust.ledger.models import ConvictionRow
from swarmtrust.ledger.projections import AuditProblem, Projection, Replay, compare_table
from swarmtrust.ledger.rowstore import MemoryRows, RowStore, SqlRows
from swarmtrust.protocol.misbehaviour import Contradiction, MisbehaviourProof, NotAProofError, check_proof

MAX_REPORT_SKEW_MS = 600_000  # a proof's reported_ms is within this of the ledger's clock when recorded


def conviction_key(server_key: bytes, session_id: bytes) -> str:
    """One conviction per server and session (the same hex key as the session's escrow hold)."""
    return hold_id(server_key, session_id)


def conviction_row(seq: int, proof: MisbehaviourProof, found: Contradiction) -> dict[str, Any]:
    return {
        "conviction": conviction_key(proof.server_key, proof.session_id),
        "event_seq": seq,
        "server_key": proof.server_key.hex(),
        "session_id": proof.session_id.hex(),
        "kind": found.kind,
        "step": found.step,
        "first_digest": found.first.digest.hex(),
        "second_digest": found.second.digest.hex(),
        "reporter_key": proof.reporter_key.hex(),
        "reported_ms": proof.reported_ms,
    }


def fold_conviction(rows: RowStore, event: LoggedEvent) -> str | None:
    """Record the conviction of one misbehaviour event; what is wrong with the event, if anything."""
    proof = event.record_as(MisbehaviourProof)
    try:
        found = check_proof(proof)
    except NotAProofError as exc:
        return f"the misbehaviour event proves nothing ({exc.reason}): {exc}"
    key = conviction_key(proof.server_key, proof.session_id)
    if rows.get(ConvictionRow, key) is not None:
        return "a second conviction of one server for one session"
    rows.put(ConvictionRow, conviction_row(event.seq, proof, found))
    if abs(proof.reported_ms - event.recorded_ms) > MAX_REPORT_SKEW_MS:
        return "the proof's reported_ms is far from the time the ledger recorded it"
    return None


class MisbehaviourProjection(Projection):
    records = (MisbehaviourProof,)

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        rows = SqlRows(connection)
        for event in events:
            fold_conviction(rows, event)
        rows.flush()

    def replay(self) -> Replay:
        return _ConvictionReplay()


class _ConvictionReplay(Replay):
    def __init__(self) -> None:
        self.rows = MemoryRows()
        self.problems: list[AuditProblem] = []

    def feed(self, event: LoggedEvent) -> None:
        problem = fold_conviction(self.rows, event)
        if problem is not None:
            self.problems.append(AuditProblem(event.seq, "convictions", problem))

    def compare(self, connection: Connection) -> list[AuditProblem]:
        expected = self.rows.tables.get(ConvictionRow, {})
        found = compare_table(connection, ConvictionRow, "conviction", expected, seq_of=lambda row: row["event_seq"])
        return self.problems + found
