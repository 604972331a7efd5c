"""The swarm's capacity per model, as the ledger sees it: which blocks online servers cover, with what measured
throughput, and the load clients' submitted receipts show over the last minute.

``model_capacity`` is pure (servers as ``server_queries`` describes them, recent receipts as rows);
``capacity`` reads them. Quarantined and offline servers carry no traffic, so they count for nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from swarmtrust.ledger.models import ReceiptRow, ServerDirectoryRow
from swarmtrust.ledger.server_queries import ServerFilter, list_servers

LOAD_WINDOW_MS = 60_000  # the load is what the last minute's receipts show
RECENT_EVENTS = 100_000  # ... read among the newest events only, so the query stays an index range


@dataclass(frozen=True)
class BlockCapacity:
    block: int
    servers: int  # online, routable servers holding it
    throughput: float  # their summed announced tokens/s


@dataclass(frozen=True)
class ModelCapacity:
    model_id: str
    blocks: list[BlockCapacity]
    servers_online: int
    throughput: float  # tokens/s the swarm can carry through every block: its weakest block's
    uncovered: list[int]
    sessions_last_minute: int  # sessions with a receipt in the window
    steps_last_minute: int  # receipts in the window (one per step per server)
    per_server: dict[str, int] = field(default_factory=dict)  # steps in the window, by server key


def model_capacity(
    servers: Sequence[dict[str, Any]], recent: Iterable[tuple[str, str, str]], sizes: Mapping[str, int]
) -> list[ModelCapacity]:
    """Per model: coverage and throughput of its online, routable servers over its ``sizes`` blocks (as far as
    any server ever announced), and the load of ``recent`` receipts (model id, session id, server key)."""
    sessions: dict[str, set[str]] = {}
    steps: dict[str, dict[str, int]] = {}
    for model_id, session_id, server_key in recent:
        sessions.setdefault(model_id, set()).add(session_id)
        by_server = steps.setdefault(model_id, {})
        by_server[server_key] = by_server.get(server_key, 0) + 1
    models = sorted({s["model_id"] for s in servers if s["model_id"]} | set(sessions) | set(sizes))
    out = []
    for model_id in models:
        serving = [
            s
            for s in servers
            if s["model_id"] == model_id and s["online"] and s["reputation"]["state"] != "quarantined"
            and s["block_start"] is not None
        ]  # fmt: skip
        size = max([sizes.get(model_id, 0), *(s["block_end"] for s in serving)])
        blocks = [
            BlockCapacity(
                block,
                sum(1 for s in serving if s["block_start"] <= block < s["block_end"]),
                sum(float(s["throughput"] or 0) for s in serving if s["block_start"] <= block < s["block_end"]),
            )
            for block in range(size)
        ]
        load = steps.get(model_id, {})
        out.append(
            ModelCapacity(
                model_id,
                blocks,
                len(serving),
                min((b.throughput for b in blocks), default=0.0),
                [b.block for b in blocks if b.servers == 0],
                len(sessions.get(model_id, ())),
                sum(load.values()),
                dict(sorted(load.items())),
            )
        )
    return out


def capacity(connection: Connection, now_ms: int) -> list[ModelCapacity]:
    newest = connection.execute(select(func.max(ReceiptRow.event_seq))).scalar() or 0
    recent = connection.execute(
        select(ReceiptRow.model_id, ReceiptRow.session_id, ReceiptRow.server_key).where(
            ReceiptRow.event_seq > newest - RECENT_EVENTS, ReceiptRow.timestamp_ms >= now_ms - LOAD_WINDOW_MS
        )
    ).all()
    sizes = connection.execute(
        select(ServerDirectoryRow.model_id, func.max(ServerDirectoryRow.block_end)).group_by(
            ServerDirectoryRow.model_id
        )
    ).all()
    return model_capacity(
        online_servers(connection, now_ms),
        [(r.model_id, r.session_id, r.server_key) for r in recent],
        {model_id: int(size) for model_id, size in sizes},
    )


def online_servers(connection: Connection, now_ms: int, page: int = 1000) -> list[dict[str, Any]]:
    """Every online server, page by page."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        batch = list_servers(connection, now_ms, ServerFilter(online=True, after_key=after, limit=page))
        found += batch
        if len(batch) < page:
            return found
        after = batch[-1]["public_key"]
