"""Receipt ingest: verify, de-duplicate and append, item by item within one transaction per batch.

Each item ends in one of three states: ``accepted`` (appended now), ``duplicate`` (the same receipt is
already in the ledger: a safe retry) or ``rejected`` (with a reason; nothing of it is written). A bad
item never spoils the good ones beside it.

A receipt dated more than ``RECEIPT_CLOCK_SLACK_MS`` after the ledger's clock is rejected (``future``): a
server that could date receipts as it likes would sign a twin of a receipt its client holds dated beyond
the proof horizon (``protocol.misbehaviour``), and escape conviction by its own two signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, select

from swarmtrust.ledger.bulk_rows import KEYS_PER_QUERY
from swarmtrust.ledger.errors import BatchTooLargeError
from swarmtrust.ledger.eventlog import Clock, EventWriter, now_ms, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import Event
from swarmtrust.protocol.errors import RecordTooLargeError, SignatureError, UnsupportedVersionError, WireFormatError
from swarmtrust.protocol.misbehaviour import RECEIPT_CLOCK_SLACK_MS
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed_many, verify_record

# Called on a receipt whose id is stored with other content (stored, new), inside the ingest's transaction;
# returns the event that convicts the server, if the pair proves misbehaviour (``ledger.misbehaviour``).
ConflictHook = Callable[[EventWriter, Signed[Receipt], Signed[Receipt]], int | None]

MAX_BATCH = 10_000

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass  # not frozen: one is built per receipt on the hot path, and a frozen one costs three times as much
class IngestResult:
    """What became of one submitted receipt."""

    index: int  # position in the submitted batch
    status: Status
    receipt_id: str | None = None  # hex, when the receipt could be decoded
    seq: int | None = None  # the event holding it (accepted or duplicate)
    reason: str | None = None  # rejected as malformed, too_large, unsupported_version, bad_signature, future, conflict
    message: str | None = None
    signed_ms: int | None = None  # the receipt's own timestamp, when accepted (ingest lag is measured from it)


def rejection(index: int, error: WireFormatError | SignatureError) -> IngestResult:
    """The result of a receipt that does not decode or verify: rejected, with the reason."""
    if isinstance(error, RecordTooLargeError):
        return IngestResult(index, "rejected", reason="too_large", message=str(error))
    if isinstance(error, UnsupportedVersionError):
        return IngestResult(index, "rejected", reason="unsupported_version", message=str(error))
    if isinstance(error, WireFormatError):
        return IngestResult(index, "rejected", reason="malformed", message=str(error))
    if isinstance(error, SignatureError):
        return IngestResult(index, "rejected", reason="bad_signature", message=str(error))
    raise TypeError(f"not a reason to reject a receipt: {error!r}")


def latest_receipt_ms(clock: Clock) -> int:
    """The latest date the ledger takes a receipt with now: its clock plus the slack. The later of the given
    clock and the wall clock, so that a clock that lags (a test's, a replay's) never refuses a receipt that
    is not in the future."""
    return max(clock(), now_ms()) + RECEIPT_CLOCK_SLACK_MS


def future_rejection(index: int, receipt: Receipt, latest_ms: int) -> IngestResult:
    """The result of a receipt dated later than the ledger accepts (``latest_ms``: its clock plus the slack)."""
    return IngestResult(
        index,
        "rejected",
        receipt.receipt_id.hex(),
        reason="future",
        message=f"the receipt is dated {receipt.timestamp_ms} ms, after the latest the ledger accepts now "
        f"({latest_ms} ms: its clock plus {RECEIPT_CLOCK_SLACK_MS // 60_000} minutes); a server signs with the "
        "time now (set its clock right)",
    )


def ingest_receipts(
    engine: Engine, wires: Sequence[bytes], *, clock: Clock = now_ms, on_conflict: ConflictHook | None = None
) -> list[IngestResult]:
    """Ingest a batch of signed receipts (``Signed.to_wire`` bytes); one result per item, in order.
    ``on_conflict`` turns a receipt that contradicts a stored one into a conviction (``ledger.misbehaviour``)."""
    if len(wires) > MAX_BATCH:
        raise BatchTooLargeError(f"a batch holds at most {MAX_BATCH} receipts, got {len(wires)}; split it")
    results: dict[int, IngestResult] = {}
    verified: list[tuple[int, Signed[Receipt]]] = []
    latest = latest_receipt_ms(clock)
    for index, outcome in enumerate(open_signed_many(Receipt, wires)):
        if not isinstance(outcome, Signed):
            results[index] = rejection(index, outcome)
        elif outcome.record.timestamp_ms > latest:
            results[index] = future_rejection(index, outcome.record, latest)
        else:
            verified.append((index, outcome))
    if not verified:
        return [results[i] for i in range(len(wires))]

    with open_writer(engine, clock) as writer:
        results |= append_receipts(writer, verified, on_conflict=on_conflict)
    return [results[i] for i in range(len(wires))]


def append_receipts(
    writer: EventWriter,
    verified: Sequence[tuple[int, Signed[Receipt]]],
    *,
    on_conflict: ConflictHook | None = None,
) -> dict[int, IngestResult]:
    """Append the verified receipts not yet in the ledger, within ``writer``'s transaction.

    The same receipt again is a duplicate (pointing at its event); the same receipt id with other content
    is a conflict: the server signed two different receipts for one step. The conflicting receipt is not
    stored; ``on_conflict`` (when given) may convict the server on the pair, in this transaction.
    """
    results: dict[int, IngestResult] = {}
    ids = [signed.record.receipt_id.hex() for _, signed in verified]
    known = _stored_digests(writer.connection, ids)
    drafts: list[EventDraft] = []
    pending: list[tuple[int, str, int]] = []  # index, receipt id, signed_ms
    conflicts: list[tuple[int, str, Signed[Receipt]]] = []
    for (index, signed), rid in zip(verified, ids, strict=True):
        digest = signed.digest.hex()
        prior = known.get(rid)
        if prior is None:
            known[rid] = (digest, None)
            drafts.append(EventDraft("receipt", signed))
            pending.append((index, rid, signed.record.timestamp_ms))
        elif prior[0] == digest:
            results[index] = IngestResult(index, "duplicate", rid, seq=prior[1])
        else:
            results[index] = IngestResult(
                index,
                "rejected",
                rid,
                reason="conflict",
                message=f"receipt {rid} is already recorded with other content (the server signed two "
                "different receipts for one step)",
            )
            conflicts.append((index, rid, signed))
    appended = {rid: event.seq for (_, rid, _), event in zip(pending, writer.append(drafts), strict=True)}
    if on_conflict is not None:
        for index, rid, signed in conflicts:
            stored_seq = known[rid][1] or appended[rid]
            convicted = on_conflict(writer, _stored_receipt(writer.connection, stored_seq), signed)
            if convicted is not None:
                message = f"{results[index].message}; the server stands convicted of it (event {convicted})"
                results[index] = IngestResult(index, "rejected", rid, reason="conflict", message=message)
    for index, rid, signed_ms in pending:
        results[index] = IngestResult(index, "accepted", rid, seq=appended[rid], signed_ms=signed_ms)
    for index, result in results.items():  # a duplicate within this batch points at its first copy's event
        if result.status == "duplicate" and result.seq is None and result.receipt_id is not None:
            results[index] = IngestResult(index, "duplicate", result.receipt_id, seq=appended[result.receipt_id])
    return results


def _stored_receipt(connection: Connection, seq: int) -> Signed[Receipt]:
    """The receipt event ``seq`` holds (its signature checked again: it is about to convict someone)."""
    row = connection.execute(select(Event.payload, Event.signature).where(Event.seq == seq)).one()
    return verify_record(Receipt, row.payload, row.signature)


def _stored_digests(connection: Connection, ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """Digest and event of each id already stored. Plain SQL: an expanding IN of 1,000 bound ids costs
    SQLAlchemy more than the lookup itself."""
    found: dict[str, tuple[str, int | None]] = {}
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(ids), KEYS_PER_QUERY):
        chunk = ids[start : start + KEYS_PER_QUERY]
        markers = ", ".join([marker] * len(chunk))
        query = f"SELECT receipt_id, digest, event_seq FROM receipts WHERE receipt_id IN ({markers})"
        for rid, digest, seq in connection.exec_driver_sql(query, tuple(chunk)):
            found[rid] = (digest, seq)
    return found
