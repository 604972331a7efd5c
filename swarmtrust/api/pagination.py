"""Cursor pagination: a cursor is an opaque, URL-safe token naming the last item of the previous page.

Lists are ordered by a unique column (an event sequence number or a key), so a cursor is that column's
value: pages never skip or repeat an item while new ones arrive, unlike offsets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.orm import InstrumentedAttribute

from swarmtrust.api.errors import ApiError
from swarmtrust.protocol.records import free_of_controls

MAX_CURSOR_INT = 2**63 - 1  # the largest BIGINT, the type of every column a list is ordered by

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page; omit for the first page")
]


def encode_cursor(list_name: str, value: int | str) -> str:
    raw = json.dumps([list_name, value], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(list_name: str, cursor: str | None, kind: type[int] | type[str]) -> Any:
    """The value a cursor of ``list_name`` holds; None for the first page; 400 for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, value = json.loads(raw)
    except (ValueError, TypeError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out; start again without it") from None
    if name != list_name or type(value) is not kind:
        raise ApiError(400, "invalid_cursor", f"cursor belongs to another list than {list_name}")
    # The value goes into a query: one the database cannot hold (past a BIGINT, a NUL in text) would fail there.
    if type(value) is int and not 0 <= value <= MAX_CURSOR_INT:
        raise ApiError(400, "invalid_cursor", "cursor is out of range: it is not one this API gave out")
    if type(value) is str and not free_of_controls(value):
        raise ApiError(400, "invalid_cursor", "cursor holds control characters: it is not one this API gave out")
    return value


def page(list_name: str, items: list[Any], limit: int, cursor_of: Any) -> dict[str, Any]:
    """A page from ``limit + 1`` fetched items: the extra one only says that there is a next page."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(list_name, cursor_of(items[-1])) if more else None}


def newest_first(
    engine: Engine,
    list_name: str,
    seq: InstrumentedAttribute[int],
    filters: Mapping[InstrumentedAttribute[Any], object | None],
    cursor: str | None,
    limit: int,
    to_json: Callable[[Connection, dict[str, Any]], dict[str, Any]] = lambda _, row: row,
    where: ColumnElement[bool] | None = None,
) -> dict[str, Any]:
    """A page of ``seq``'s table, newest first: the rows whose columns equal every filter given (None: any)
    and that meet ``where``, after the cursor's sequence number, each turned into its JSON by ``to_json``."""
    query = select(seq.class_).order_by(seq.desc()).limit(limit + 1)
    if where is not None:
        query = query.where(where)
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    after = decode_cursor(list_name, cursor, int)
    if after is not None:
        query = query.where(seq < after)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
        more = len(rows) > limit  # the extra row only says that there is a next page
        rows = rows[:limit]
        items = [to_json(connection, row) for row in rows]
    return {"items": items, "next_cursor": encode_cursor(list_name, rows[-1][seq.key]) if more else None}
