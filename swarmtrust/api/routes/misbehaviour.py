"""Signed misbehaviour: proofs that a server signed two contradictory receipts, and the convictions they made."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.auth import SignedBy
from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody
from swarmtrust.api.deps import HEX_ID, KeyQuery, LedgerEngine
from swarmtrust.api.pagination import Cursor, Limit, newest_first
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody, Page
from swarmtrust.api.service import Service
from swarmtrust.ledger.misbehaviour import Convictions
from swarmtrust.ledger.models import ConvictionRow
from swarmtrust.protocol.rest import API_PREFIX, Schema

router = APIRouter(prefix=API_PREFIX, tags=["misbehaviour"], responses=COMMON_ERRORS)


class ConvictionAccepted(Schema):
    status: str = Field(description="accepted: this proof convicted; duplicate: the server stood convicted already")
    server_key: str
    session_id: str
    kind: str = Field(description="equivocation (two receipts for one step) or broken_chain")
    step: int
    seq: int = Field(description="The misbehaviour event that convicted the server for this session")


class ConvictionOut(Schema):
    server_key: str
    session_id: str
    kind: str
    step: int
    first_digest: str = Field(description="Record digests of the two receipts")
    second_digest: str
    reporter_key: str = Field(description="Who reported it, and earned the bounty (unless the server itself)")
    reported_ms: int
    seq: int


def convictions(service: Service) -> Convictions:
    desk: Convictions = service.convictions
    return desk


Desk = Annotated[Convictions, Depends(convictions)]


@router.post(
    "/misbehaviour",
    status_code=201,
    summary="Report two contradictory receipts of one server (signed by the reporter): it is convicted at once",
    response_model=ConvictionAccepted,
    responses={
        **UNSUPPORTED_MEDIA,
        200: {"model": ConvictionAccepted, "description": "The server already stands convicted for this session"},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody, "description": "The request is not signed by the proof's reporter"},
        422: {"model": ErrorBody, "description": "not_a_proof: the receipts do not contradict each other"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A signed MisbehaviourProof envelope (msgpack [body, signature])",
        }
    },
)
async def report_misbehaviour(wire: MsgpackBody, caller: SignedBy, desk: Desk) -> JSONResponse:
    result = await run_in_threadpool(desk.submit, wire, caller)
    body = {k: getattr(result, k) for k in ("status", "server_key", "session_id", "kind", "step", "seq")}
    return JSONResponse(body, 201 if result.status == "accepted" else 200)


@router.get("/misbehaviour", summary="Convictions by signed misbehaviour, newest first; by server and/or session")
def list_convictions(
    engine: LedgerEngine,
    server: KeyQuery = None,
    session: Annotated[str | None, Query(pattern=HEX_ID, description="Hex session id")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ConvictionOut]:
    filters = {ConvictionRow.server_key: server, ConvictionRow.session_id: session}
    found = newest_first(engine, "misbehaviour", ConvictionRow.event_seq, filters, cursor, limit, _json)
    return Page[ConvictionOut].model_validate(found)


def _json(_: Any, row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("conviction", "event_seq")}
    return out | {"seq": row["event_seq"]}
