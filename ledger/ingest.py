"""Receipt ingest: verify, de-duplicate and append, item by item within one transaction per batch.

Each item ends in one of three states: ``accepted`` (appended now), ``duplicate`` (the same receipt is
already in the ledger: a safe retry) or ``rejected`` (with a reason; nothing of it is written). A bad
item never spoils the good ones beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine

from ledger.errors import BatchTooLargeError
from ledger.eventlog import Clock, EventWriter, now_ms, open_writer
from ledger.events import EventDraft
from ledger.row_statements import KEYS_PER_QUERY
from node.errors import RecordTooLargeError, SignatureError, UnsupportedVersionError, WireFormatError
from node.receipts import Receipt
from node.signing import Signed, open_signed_many

MAX_BATCH = 10_000

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass  # not frozen: one is built per receipt on the hot path, and a frozen one costs three times as much
class IngestResult:
    """What became of one submitted receipt."""

    index: int  # position in the submitted batch
    status: Status
    receipt_id: str | None = None  # hex, when the receipt could be decoded
    seq: int | None = None  # the event holding it (accepted or duplicate)
    reason: str | None = None  # for rejections: malformed, too_large, unsupported_version, bad_signature, conflict
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


def ingest_receipts(engine: Engine, wires: Sequence[bytes], *, clock: Clock = now_ms) -> list[IngestResult]:
    """Ingest a batch of signed receipts (``Signed.to_wire`` bytes); one result per item, in order."""
    if len(wires) > MAX_BATCH:
        raise BatchTooLargeError(f"a batch holds at most {MAX_BATCH} receipts, got {len(wires)}; split it")
    results: dict[int, IngestResult] = {}
    verified: list[tuple[int, Signed[Receipt]]] = []
    for index, outcome in enumerate(open_signed_many(Receipt, wires)):
        if isinstance(outcome, Signed):
            verified.append((index, outcome))
        else:
            results[index] = rejection(index, outcome)
    if not verified:
        return [results[i] for i in range(len(wires))]

    with open_writer(engine, clock) as writer:
        results |= append_receipts(writer, verified)
    return [results[i] for i in range(len(wires))]


def append_receipts(writer: EventWriter, verified: Sequence[tuple[int, Signed[Receipt]]]) -> dict[int, IngestResult]:
    """Append the verified receipts not yet in the ledger, within ``writer``'s transaction.

    The same receipt again is a duplicate (pointing at its event); the same receipt id with other content
    is a conflict: the server signed two different receipts for one step.
    """
    results: dict[int, IngestResult] = {}
    ids = [signed.record.receipt_id.hex() for _, signed in verified]
    known = _stored_digests(writer.connection, ids)
    drafts: list[EventDraft] = []
    pending: list[tuple[int, str, int]] = []  # index, receipt id, signed_ms
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
    appended = {rid: event.seq for (_, rid, _), event in zip(pending, writer.append(drafts), strict=True)}
    for index, rid, signed_ms in pending:
        results[index] = IngestResult(index, "accepted", rid, seq=appended[rid], signed_ms=signed_ms)
    for index, result in results.items():  # a duplicate within this batch points at its first copy's event
        if result.status == "duplicate" and result.seq is None and result.receipt_id is not None:
            results[index] = IngestResult(index, "duplicate", result.receipt_id, seq=appended[result.receipt_id])
    return results


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
