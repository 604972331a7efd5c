"""The auditor's check: the chain links, every signature holds, and derived tables equal their replay.

``audit_ledger`` reads the whole log in sequence order and reports every problem, each naming the
event it concerns; ``first_bad_seq`` is where an investigation starts. The chain alone cannot notice
events cut from the end together with the head row: pass an ``anchor`` (a head hash you recorded
earlier) to prove the chain still contains it. Audit coins (``ledger.beacon``) are recomputed once their
epoch's seed is revealed; the report counts those checked and those still awaiting their reveal. The
operator's consensus decisions (audit draws, rounds, outcomes) are re-run under the rules it logged
(``ledger.consensus_audit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from swarmtrust.ledger.db import read_transaction
from swarmtrust.ledger.errors import SchemaNotReadyError
from swarmtrust.ledger.eventlog import HEAD_ROW_ID
from swarmtrust.ledger.events import EVENT_KINDS, GENESIS_HASH, LoggedEvent, event_hash, open_event_record
from swarmtrust.ledger.models import ChainHead, Event
from swarmtrust.ledger.projection_set import PROJECTIONS
from swarmtrust.ledger.projections import AuditProblem
from swarmtrust.ledger.spotcheck_projection import SpotCheckReplay
from swarmtrust.protocol.errors import SignatureError, WireFormatError

_STREAM_CHUNK = 2_000


@dataclass
class AuditReport:
    events_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH.hex()
    kinds: dict[str, int] = field(default_factory=dict)
    problems: list[AuditProblem] = field(default_factory=list)
    coins_checked: int = 0  # audit coins recomputed from their revealed seeds
    coins_awaiting_reveal: int = 0  # audit coins whose seeds the ledger has not revealed yet (not a problem)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """Where to start looking: the first broken event of the chain if any, else the first event
        whose derived rows differ (a bad event also upsets the rows derived from it, so it comes first)."""
        for tables in (_CHAIN_TABLES, None):
            seqs = [p.seq for p in self.problems if p.seq is not None and (tables is None or p.where in tables)]
            if seqs:
                return min(seqs)
        return None


_CHAIN_TABLES = frozenset({"events", "chain_head"})


def audit_ledger(engine: Engine, *, anchor: str | None = None) -> AuditReport:
    report = AuditReport()
    replays = [(projection.kinds, projection.replay()) for projection in PROJECTIONS]
    try:
        with read_transaction(engine) as connection:
            anchor_seen = anchor is None
            for row in connection.execute(
                select(Event.__table__).order_by(Event.seq).execution_options(yield_per=_STREAM_CHUNK)
            ):
                logged = _check_event(row, report)
                if logged is not None:
                    for kinds, replay in replays:
                        if row.kind in kinds:
                            replay.feed(logged)
                anchor_seen = anchor_seen or row.hash == anchor
            _check_head(connection, report)
            if not anchor_seen:
                report.problems.append(
                    AuditProblem(
                        None, "events", f"anchor {anchor} is not the hash of any event: the chain was rewritten or cut"
                    )
                )
            for _, replay in replays:
                report.problems.extend(replay.compare(connection))
                if isinstance(replay, SpotCheckReplay):
                    report.coins_checked = replay.coins_checked
                    report.coins_awaiting_reveal = replay.coins_awaiting_reveal
    except (OperationalError, ProgrammingError) as exc:
        raise SchemaNotReadyError(
            "the database has no swarmtrust ledger schema; run `swarmtrust ledger upgrade --db URL` first"
        ) from exc
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _check_event(row: Row[Any], report: AuditReport) -> LoggedEvent | None:
    """Check one event against its predecessor (the report's head so far); then advance the head."""
    problems = report.problems
    expected_seq = report.head_seq + 1
    if row.seq > expected_seq:
        problems.append(AuditProblem(expected_seq, "events", f"events {expected_seq}..{row.seq - 1} are missing"))
    elif row.seq < expected_seq:
        problems.append(AuditProblem(row.seq, "events", "sequence number out of order"))
    if row.prev_hash != report.head_hash:
        problems.append(AuditProblem(row.seq, "events", "prev_hash does not link to the event before"))
    if _recompute_hash(row) != row.hash:
        problems.append(AuditProblem(row.seq, "events", "hash does not match the event's contents (altered)"))
    report.events_checked += 1
    report.kinds[row.kind] = report.kinds.get(row.kind, 0) + 1
    report.head_seq, report.head_hash = row.seq, row.hash
    return _open(row, problems)


def _check_head(connection: Connection, report: AuditReport) -> None:
    head = connection.execute(select(ChainHead.seq, ChainHead.hash).where(ChainHead.id == HEAD_ROW_ID)).one_or_none()
    if head is None or (head.seq, head.hash) != (report.head_seq, report.head_hash):
        claimed = f"seq {head.seq}" if head else "no head row"
        report.problems.append(
            AuditProblem(
                report.head_seq + 1,
                "chain_head",
                f"the head row ({claimed}) is not the last event (seq {report.head_seq}): events cut from the end?",
            )
        )


def _recompute_hash(row: Row[Any]) -> str:
    try:
        return event_hash(
            row.seq,
            row.kind,
            row.payload,
            bytes.fromhex(row.signer),
            row.signature,
            row.recorded_ms,
            bytes.fromhex(row.prev_hash),
        ).hex()
    except ValueError:  # a hex column no longer holds hex
        return ""


def _open(row: Row[Any], problems: list[AuditProblem]) -> LoggedEvent | None:
    """The verified record of an event, or None after recording why it cannot be trusted."""
    try:
        signer = bytes.fromhex(row.signer)
        signed = open_event_record(row.kind, row.payload, signer, row.signature)
    except (ValueError, WireFormatError) as exc:
        problems.append(AuditProblem(row.seq, "events", f"payload is not a valid {row.kind} record: {exc}"))
        return None
    except SignatureError:
        problems.append(AuditProblem(row.seq, "events", f"signature of {row.signer} does not verify"))
        return None
    subject = EVENT_KINDS[row.kind].subject(signed.record)
    if (subject.hex() if subject else None) != row.subject:
        problems.append(AuditProblem(row.seq, "events", "subject column does not match the record"))
    prev_hash, digest = bytes.fromhex(row.prev_hash), bytes.fromhex(row.hash)
    return LoggedEvent(row.seq, row.kind, signed, row.recorded_ms, prev_hash, digest)
