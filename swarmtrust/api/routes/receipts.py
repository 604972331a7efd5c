"""Receipts: submitted in signed batches, read back by server or session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.auth import SignedBy
from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody, msgpack_list
from swarmtrust.api.deps import HEX_ID, KeyQuery, LedgerEngine, now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.api.pagination import Cursor, Limit, newest_first
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody, Page, ReceiptBatchResult, ReceiptOut
from swarmtrust.api.service import Service
from swarmtrust.ledger.errors import BatchTooLargeError
from swarmtrust.ledger.ingest import MAX_BATCH, ingest_receipts
from swarmtrust.ledger.models import ReceiptRow
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["receipts"], responses=COMMON_ERRORS)


@router.post(
    "/receipts",
    summary="Submit a batch of signed receipts (any signed request; each receipt carries its server's signature)",
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 413: {"model": ErrorBody}, **UNSUPPORTED_MEDIA},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-msgpack": {"schema": {"type": "string", "format": "binary"}}},
            "description": f"msgpack array of signed receipt envelopes (bytes), at most {MAX_BATCH}",
        }
    },
)
async def submit_receipts(
    service: Service, body: MsgpackBody, caller: SignedBy, engine: LedgerEngine
) -> ReceiptBatchResult:
    wires = msgpack_list(body, "receipt batch")
    if not all(type(w) is bytes for w in wires):
        raise ApiError(400, "bad_body", "expected a msgpack array of byte strings (signed receipt envelopes)")
    try:
        conflicts = service.convictions.conflict_hook()  # a receipt contradicting a stored one convicts
        results = await run_in_threadpool(lambda: ingest_receipts(engine, wires, on_conflict=conflicts))
    except BatchTooLargeError as exc:
        raise ApiError(413, "batch_too_large", str(exc)) from None
    service.metrics.observe_ingest(results, now_ms())
    counts = {status: sum(r.status == status for r in results) for status in ("accepted", "duplicate", "rejected")}
    return ReceiptBatchResult.model_validate({**counts, "results": [vars(r) for r in results]})


@router.get("/receipts", summary="Receipts, newest first; by server and/or session")
def receipts(
    engine: LedgerEngine,
    server: KeyQuery = None,
    session: Annotated[str | None, Query(pattern=HEX_ID, description="Hex session id")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ReceiptOut]:
    filters = {ReceiptRow.server_key: server, ReceiptRow.session_id: session}
    found = newest_first(engine, "receipts", ReceiptRow.event_seq, filters, cursor, limit, lambda _, r: receipt_json(r))
    return Page[ReceiptOut].model_validate(found)


@router.get("/receipts/{receipt_id}", summary="One receipt", responses={404: {"model": ErrorBody}})
def receipt(
    engine: LedgerEngine, receipt_id: Annotated[str, Path(pattern=HEX_ID, description="Hex receipt id")]
) -> ReceiptOut:
    with engine.connect() as connection:
        row = connection.execute(select(ReceiptRow).where(ReceiptRow.receipt_id == receipt_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", f"no receipt {receipt_id} in the ledger")
    return ReceiptOut.model_validate(receipt_json(dict(row)))


def receipt_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("event_seq", "day")}
    out["seq"] = row["event_seq"]
    for shape in ("input_shape", "output_shape"):
        out[shape] = [int(d) for d in row[shape].split(",") if d]
    return out
