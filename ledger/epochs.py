"""Epochs: a server's receipts of one hour, summed up and committed to by one Merkle root.

An epoch is an hour of receipts' own timestamps (``timestamp_ms // EPOCH_MS``). Its leaves are the digests of
the server's receipts in that hour in ledger order (the sequence of the events that hold them), so receipts
ingested late join the end of the tree and the first ``n`` leaves of a root stay provable. A server or client
reconciles its bill against the summary (receipts, sessions, block-tokens) and proves any one receipt's place
in it with an inclusion proof (``node.merkle``), without fetching the others. An epoch is ``closed`` once the
ledger's challenge window has passed since its end: receipts signed in it may still arrive until then.

Summaries are derived on read from the ``receipts`` table, which the audit re-derives from the event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ledger.market import DEFAULT_WINDOW_MS
from ledger.models import ReceiptRow
from node.merkle import InclusionProof, inclusion_proof, merkle_root

EPOCH_MS = 3_600_000


@dataclass(frozen=True)
class EpochSummary:
    server_key: str
    epoch: int  # hours since the Unix epoch
    start_ms: int
    end_ms: int  # exclusive
    receipts: int
    sessions: int
    block_tokens: int  # tokens × blocks over every receipt: what the server's work in the epoch is billed on
    merkle_root: str  # hex, over the receipt digests in ledger order
    closed: bool


@dataclass(frozen=True)
class ReceiptProof:
    epoch: EpochSummary
    receipt_id: str
    digest: str  # the leaf
    proof: InclusionProof


def epoch_of(timestamp_ms: int) -> int:
    return timestamp_ms // EPOCH_MS


def server_epochs(connection: Connection, server_key: str) -> list[int]:
    """The epochs in which ``server_key`` has receipts, newest first."""
    epoch = ReceiptRow.timestamp_ms // EPOCH_MS
    query = select(epoch).where(ReceiptRow.server_key == server_key).group_by(epoch).order_by(epoch.desc())
    return [int(e) for e in connection.execute(query).scalars()]


def epoch_summary(
    connection: Connection, server_key: str, epoch: int, now_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> EpochSummary | None:
    """The summary of ``server_key``'s epoch, or None when it has no receipts then."""
    rows = _epoch_rows(connection, server_key, epoch)
    if not rows:
        return None
    return _summary(server_key, epoch, rows, now_ms, window_ms)


def receipt_proof(
    connection: Connection, receipt_id: str, now_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> ReceiptProof | None:
    """The epoch of a receipt and the proof that it is a leaf of that epoch's root; None for an unknown id."""
    found = connection.execute(
        select(ReceiptRow.server_key, ReceiptRow.timestamp_ms).where(ReceiptRow.receipt_id == receipt_id)
    ).first()
    if found is None:
        return None
    server_key, epoch = found.server_key, epoch_of(found.timestamp_ms)
    rows = _epoch_rows(connection, server_key, epoch)
    index = next(i for i, row in enumerate(rows) if row.receipt_id == receipt_id)
    leaves = [bytes.fromhex(row.digest) for row in rows]
    summary = _summary(server_key, epoch, rows, now_ms, window_ms)
    return ReceiptProof(summary, receipt_id, rows[index].digest, inclusion_proof(leaves, index))


def _epoch_rows(connection: Connection, server_key: str, epoch: int) -> list[Any]:
    query = (
        select(
            ReceiptRow.receipt_id,
            ReceiptRow.digest,
            ReceiptRow.session_id,
            ReceiptRow.input_shape,
            ReceiptRow.block_start,
            ReceiptRow.block_end,
        )
        .where(
            ReceiptRow.server_key == server_key,
            ReceiptRow.timestamp_ms >= epoch * EPOCH_MS,
            ReceiptRow.timestamp_ms < (epoch + 1) * EPOCH_MS,
        )
        .order_by(ReceiptRow.event_seq)
    )
    return list(connection.execute(query).all())


def _summary(server_key: str, epoch: int, rows: list[Any], now_ms: int, window_ms: int) -> EpochSummary:
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
        closed=now_ms >= end + window_ms,
    )


def _tokens(shape: str) -> int:
    """Tokens of a step, from its stored input shape ("batch,tokens,hidden")."""
    dims = [int(d) for d in shape.split(",") if d]
    return dims[1] if len(dims) > 1 else 1
