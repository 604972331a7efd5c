"""Servers: the directory (signed announcements), with liveness, receipts and reputation in each entry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.auth import SignedBy
from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody
from swarmtrust.api.deps import KeyPath, LedgerEngine, now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.api.pagination import Cursor, Limit, decode_cursor, page
from swarmtrust.api.schemas import COMMON_ERRORS, AnnouncementResult, ErrorBody, Page, ServerOut
from swarmtrust.ledger.directory import open_announcement, record_announcement
from swarmtrust.ledger.server_queries import STATES, ServerFilter, get_server, list_servers
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["servers"], responses=COMMON_ERRORS)
SPAN = r"^[0-9]{1,6}:[0-9]{1,6}$"


@router.get("/servers", summary="Servers, by key; filter by model, span, state and liveness")
def servers(
    engine: LedgerEngine,
    model: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    span: Annotated[str | None, Query(pattern=SPAN, description="A:B — servers whose blocks overlap [A, B)")] = None,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    online: Annotated[bool | None, Query(description="Only servers that are (or are not) online")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ServerOut]:
    blocks = None
    if span is not None:
        start, end = (int(part) for part in span.split(":"))
        if start >= end:
            raise ApiError(422, "invalid_request", "span: A:B needs A < B")
        blocks = (start, end)
    where = ServerFilter(model, blocks, state, online, decode_cursor("servers", cursor, str), limit + 1)
    with engine.connect() as connection:
        items = list_servers(connection, now_ms(), where)
    return Page[ServerOut].model_validate(page("servers", items, limit, lambda s: s["public_key"]))


@router.get("/servers/{key}", summary="One server", responses={404: {"model": ErrorBody}})
def server(engine: LedgerEngine, key: KeyPath) -> ServerOut:
    with engine.connect() as connection:
        found = get_server(connection, key, now_ms())
    if found is None:
        raise ApiError(404, "not_found", f"the ledger knows no server {key}")
    return ServerOut.model_validate(found)


@router.post(
    "/servers/announce",
    summary="A server announces itself (signed by the server): name, model, span, online state",
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}, **UNSUPPORTED_MEDIA},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A signed ServerAnnouncement envelope (msgpack [body, signature])",
        }
    },
)
async def announce(body: MsgpackBody, caller: SignedBy, engine: LedgerEngine) -> AnnouncementResult:
    signed = open_announcement(body)
    if signed.record.server_key != caller:
        raise ApiError(403, "not_yours", "a server announces itself: sign the request with the announced key")
    result: Any = await run_in_threadpool(record_announcement, engine, signed)
    return AnnouncementResult(status=result.status, seq=result.seq)
