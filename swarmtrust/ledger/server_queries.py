"""Reading servers as people and clients see them: directory entry, liveness, receipts and reputation in one row.

A server is known to the ledger once it announced itself, sent receipts, or was checked; a listing covers
all three. State filtering happens in SQL (the same rule as ``ServerReputation.state``) so that a page of
results is a page of matches; trust (a Beta quantile) is computed only for the rows returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select, union

from swarmtrust.ledger.models import ReputationRow, Server, ServerDirectoryRow, ServerPresence
from swarmtrust.ledger.reputation import DEFAULT_PARAMS, describe
from swarmtrust.ledger.reputation_projection import from_row
from swarmtrust.ledger.reputation_queries import bond_standings, newcomer_view

STATES = ("newcomer", "trusted", "quarantined")
_REPUTATION_COLUMNS = (
    "prior_alpha",
    "prior_beta",
    "long_honest",
    "long_dishonest",
    "short_honest",
    "short_dishonest",
    "updated_ms",
    "checks",
    "passes",
    "fails",
    "consecutive_passes",
    "quarantined",
)


@dataclass(frozen=True)
class ServerFilter:
    model: str | None = None
    span: tuple[int, int] | None = None  # servers whose blocks overlap [start, end)
    state: str | None = None  # newcomer (never checked included), trusted or quarantined
    online: bool | None = None
    after_key: str | None = None  # cursor: keys sort ascending
    limit: int = 100


def _keys() -> Any:
    return union(
        select(ServerDirectoryRow.server_key.label("key")),
        select(ReputationRow.server_key.label("key")),
        select(Server.public_key.label("key")),
    ).subquery("known")


def _state_column() -> ColumnElement[str]:
    return case(
        (ReputationRow.quarantined.is_(True), literal("quarantined")),
        (ReputationRow.consecutive_passes >= DEFAULT_PARAMS.newcomer_passes, literal("trusted")),
        else_=literal("newcomer"),
    )


def _online_column(now_ms: int) -> ColumnElement[bool]:
    return and_(ServerDirectoryRow.state == "online", ServerPresence.expires_ms > now_ms)


def _query() -> Any:
    known = _keys()
    d, r = ServerDirectoryRow, ReputationRow
    columns = [
        known.c.key,
        d.server_key.label("announced_key"),
        d.name,
        d.block_start,
        d.block_end,
        d.dtype,
        d.throughput,
        d.state.label("announced_state"),
        ServerPresence.last_seen_ms,
        ServerPresence.expires_ms,
        Server.receipt_count,
        Server.last_receipt_ms,
        r.server_key.label("checked_key"),
        *(getattr(r, c) for c in _REPUTATION_COLUMNS),
        func.coalesce(d.model_id, r.model_id).label("model_id"),
    ]
    query = (
        select(*columns)
        .select_from(known)
        .outerjoin(d, d.server_key == known.c.key)
        .outerjoin(ServerPresence, ServerPresence.server_key == known.c.key)
        .outerjoin(Server, Server.public_key == known.c.key)
        .outerjoin(r, r.server_key == known.c.key)
    )
    return query, known


def list_servers(connection: Connection, now_ms: int, where: ServerFilter) -> list[dict[str, Any]]:
    query, known = _query()
    if where.model is not None:
        query = query.where(func.coalesce(ServerDirectoryRow.model_id, ReputationRow.model_id) == where.model)
    if where.span is not None:
        start, end = where.span
        query = query.where(ServerDirectoryRow.block_start < end, ServerDirectoryRow.block_end > start)
    if where.state is not None:
        query = query.where(_state_column() == where.state)
    if where.online is not None:
        online = _online_column(now_ms)
        query = query.where(online if where.online else or_(ServerDirectoryRow.server_key.is_(None), ~online))
    if where.after_key is not None:
        query = query.where(known.c.key > where.after_key)
    rows = connection.execute(query.order_by(known.c.key).limit(where.limit)).mappings().all()
    newcomer = newcomer_view(connection, now_ms) if any(r["checked_key"] is None for r in rows) else None
    standings = bond_standings(connection, [row["key"] for row in rows])
    return [_server(dict(row), now_ms, newcomer, standings[row["key"]]) for row in rows]


def get_server(connection: Connection, key: str, now_ms: int) -> dict[str, Any] | None:
    query, known = _query()
    row = connection.execute(query.where(known.c.key == key)).mappings().first()
    if row is None:
        return None
    newcomer = newcomer_view(connection, now_ms) if row["checked_key"] is None else None
    return _server(dict(row), now_ms, newcomer, bond_standings(connection, [key])[key])


def _server(
    row: dict[str, Any], now_ms: int, newcomer: dict[str, Any] | None, standing: dict[str, Any]
) -> dict[str, Any]:
    announced = row["announced_key"] is not None
    checked = row["checked_key"] is not None
    if checked:
        rep_row = {c: row[c] for c in _REPUTATION_COLUMNS}
        reputation = describe(from_row(rep_row), now_ms)
    else:
        assert newcomer is not None
        reputation = newcomer
    expires = row["expires_ms"]
    return {
        "public_key": row["key"],
        "name": row["name"] if announced else None,
        "model_id": row["model_id"],
        "block_start": row["block_start"] if announced else None,
        "block_end": row["block_end"] if announced else None,
        "dtype": row["dtype"] if announced else None,
        "throughput": row["throughput"] if announced else None,
        "announced_state": row["announced_state"],
        "online": bool(row["announced_state"] == "online" and expires is not None and expires > now_ms),
        "last_seen_ms": row["last_seen_ms"],
        "receipts": row["receipt_count"] or 0,
        "last_receipt_ms": row["last_receipt_ms"],
        "checked": checked,
        "reputation": reputation | standing,
    }
