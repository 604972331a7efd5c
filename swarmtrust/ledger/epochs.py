"""Epochs: the receipts the ledger recorded for one server in one hour, summed up and committed to by one
Merkle root.

An epoch is an hour of the ledger's own clock: the ``recorded_ms`` of the events holding the receipts
(``recorded_ms // EPOCH_MS``), not the timestamps servers sign, which a server chooses. The event log only
grows at its head, so once the ledger's clock has passed an epoch's end nothing can join it: the epoch is
``closed`` and its summary and root never change. (``CLOSE_MARGIN_MS`` allows for clock skew between
several API processes writing one ledger.) The leaves are the receipts' digests in ledger order. A server
reconciles what it was paid against an epoch's block-tokens, and anyone proves one receipt's place in the
root with an inclusion proof (``protocol.merkle``), without fetching the others.

Summaries are derived on read from the ``receipts`` and ``events`` tables, which the audit re-derives and
checks; an epoch of more than ``MAX_EPOCH_RECEIPTS`` receipts is refused rather than hashed on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from swarmtrust.ledger.errors import LedgerError
from swarmtrust.ledger.models import Event, ReceiptRow
from swarmtrust.protocol.merkle import InclusionProof, inclusion_proof, merkle_root

EPOCH_MS = 3_600_000
CLOSE_MARGIN_MS = 60_000
MAX_EPOCH_RECEIPTS = 250_000  # about 0.3 s of hashing on a request; beyond it, summaries need storing first


class EpochTooLargeError(LedgerError):
    """An epoch with more receipts than a request may hash; the message says how many."""


@dataclass(frozen=True)
class EpochSummary:
    server_key: str
    epoch: int  # hours since the Unix epoch, by the ledger's clock
    start_ms: int
    end_ms: int  # exclusive
    receipts: int
    sessions: int
    block_tokens: int  # tokens × blocks over every receipt: the work of the epoch, as billed
    merkle_root: str  # hex, over the receipt digests in ledger order
    closed: bool


@dataclass(frozen=True)
class ReceiptProof:
    epoch: EpochSummary
    receipt_id: str
    digest: str  # the leaf
    proof: InclusionProof


def epoch_of(recorded_ms: int) -> int:
    return recorded_ms // EPOCH_MS


def server_epochs(connection: Connection, server_key: str) -> list[int]:
    """The epochs in which the ledger recorded receipts of ``server_key``, newest first."""
    epoch = Event.recorded_ms // EPOCH_MS  # integer division on SQLite and PostgreSQL alike
    query = (
        select(epoch)
        .select_from(ReceiptRow)
        .join(Event, Event.seq == ReceiptRow.event_seq)
        .where(ReceiptRow.server_key == server_key)
        .group_by(epoch)
        .order_by(epoch.desc())
    )
    return [int(e) for e in connection.execute(query).scalars()]


def epoch_summary(
    connection: Connection, server_key: str, epoch: int, now_ms: int, *, max_receipts: int = MAX_EPOCH_RECEIPTS
) -> EpochSummary | None:
    """The summary of ``server_key``'s epoch, or None when the ledger recorded no receipt of it then."""
    rows = _epoch_rows(connection, server_key, epoch, max_receipts)
    return _summary(server_key, epoch, rows, now_ms) if rows else None


def receipt_proof(
    connection: Connection, receipt_id: str, now_ms: int, *, max_receipts: int = MAX_EPOCH_RECEIPTS
) -> ReceiptProof | None:
    """The epoch of a receipt and the proof that it is a leaf of that epoch's root; None for an unknown id."""
    found = connection.execute(
        select(ReceiptRow.server_key, Event.recorded_ms)
        .join(Event, Event.seq == ReceiptRow.event_seq)
        .where(ReceiptRow.receipt_id == receipt_id)
    ).first()
    if found is None:
        return None
    server_key, epoch = found.server_key, epoch_of(found.recorded_ms)
    rows = _epoch_rows(connection, server_key, epoch, max_receipts)
    index = next(i for i, row in enumerate(rows) if row.receipt_id == receipt_id)
    leaves = [bytes.fromhex(row.digest) for row in rows]
    return ReceiptProof(
        _summary(server_key, epoch, rows, now_ms), receipt_id, rows[index].digest, inclusion_proof(leaves, index)
    )


def _epoch_rows(connection: Connection, server_key: str, epoch: int, max_receipts: int) -> list[Any]:
    query = (
        select(
            ReceiptRow.receipt_id,
            ReceiptRow.digest,
            ReceiptRow.session_id,
            ReceiptRow.input_shape,
            ReceiptRow.block_start,
            ReceiptRow.block_end,
        )
        .join(Event, Event.seq == ReceiptRow.event_seq)
        .where(
            ReceiptRow.server_key == server_key,
            Event.recorded_ms >= epoch * EPOCH_MS,
            Event.recorded_ms < (epoch + 1) * EPOCH_MS,
        )
        .order_by(ReceiptRow.event_seq)
        .limit(max_receipts + 1)
    )
    rows = list(connection.execute(query).all())
    if len(rows) > max_receipts:
        raise EpochTooLargeError(
            f"epoch {epoch} of server {server_key} holds more than {max_receipts:,} receipts, more than one request "
            "may hash; read its receipts in pages from /receipts instead"
        )
    return rows


def _summary(server_key: str, epoch: int, rows: list[Any], now_ms: int) -> EpochSummary:
    start, end = epoch * EPOCH_MS, (epoch + 1) * EPOCH_MS
    return EpochSummary(
        server_key=server_key,
        epoch=epoch,
        start_ms=start,
        end_ms=end,
        receipts=len(rows),
        sessions=len({row.session_id for row in rows}),
        block_tokens=sum(_tokens(row.input_shape) * (row.block_end - row.block_start) for row in rows),
        merkle_root=merkle_root([bytes.fromhex(row.digest) for row in rows]).hex(),
        closed=now_ms >= end + CLOSE_MARGIN_MS,
    )


def _tokens(shape: str) -> int:
    """Tokens of a step, from its stored input shape ("batch,tokens,hidden")."""
    dims = [int(d) for d in shape.split(",") if d]
    return dims[1] if len(dims) > 1 else 1
