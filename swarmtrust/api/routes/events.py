"""The event log itself, paged by sequence number: what auditors and mirrors replay."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from swarmtrust.api.deps import KeyQuery, LedgerEngine
from swarmtrust.api.errors import ApiError
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody, EventOut, Page
from swarmtrust.ledger.events import EVENT_KINDS
from swarmtrust.ledger.models import Event
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["events"], responses=COMMON_ERRORS)
KINDS = "^(" + "|".join(EVENT_KINDS) + ")$"


@router.get("/events", summary="Events in sequence order, after a sequence number")
def events(
    engine: LedgerEngine,
    after: Annotated[int, Query(ge=0, le=2**62, description="Return events with seq greater than this")] = 0,
    kind: Annotated[str | None, Query(pattern=KINDS, description="Only events of this kind")] = None,
    subject: KeyQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[EventOut]:
    """Paged by ``after`` (the last seq seen), so ``next_cursor`` is that seq as a string."""
    query = select(Event).where(Event.seq > after).order_by(Event.seq).limit(limit + 1)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if subject is not None:
        query = query.where(Event.subject == subject)
    with engine.connect() as connection:
        rows = [event_json(dict(row)) for row in connection.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[EventOut].model_validate({"items": rows, "next_cursor": str(rows[-1]["seq"]) if more else None})


@router.get("/events/{seq}", summary="One event", responses={404: {"model": ErrorBody}})
def event(engine: LedgerEngine, seq: Annotated[int, Path(ge=1, le=2**62)]) -> EventOut:
    with engine.connect() as connection:
        row = connection.execute(select(Event).where(Event.seq == seq)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", f"no event {seq}")
    return EventOut.model_validate(event_json(dict(row)))


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return row | {
        "payload": base64.b64encode(bytes(row["payload"])).decode(),
        "signature": base64.b64encode(bytes(row["signature"])).decode(),
    }
