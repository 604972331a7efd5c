"""What each dashboard page shows, read from the ledger (no HTML here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from swarmtrust.api.dashboard.charts import band_chart, coverage_map
from swarmtrust.api.routes.spotchecks import dispute_json
from swarmtrust.ledger.capacity import capacity
from swarmtrust.ledger.consensus import reliability
from swarmtrust.ledger.directory import last_audit
from swarmtrust.ledger.market_queries import OPEN_HOLD, market_summary
from swarmtrust.ledger.models import (
    AccountRow,
    AdminActionRow,
    ChainHead,
    ChallengeRow,
    DisputeRow,
    EscrowHoldRow,
    MovementRow,
    ReceiptRow,
    ServerDirectoryRow,
    VerdictRow,
    VerifierRow,
)
from swarmtrust.ledger.reputation_history import reputation_history
from swarmtrust.ledger.server_queries import ServerFilter, get_server, list_servers

MAX_ROWS = 1000  # a page of the dashboard lists at most this many servers


def all_servers(connection: Connection, now_ms: int, model: str | None = None) -> list[dict[str, Any]]:
    """Servers with what the market paid them (released escrow) and holds for them."""
    servers = list_servers(connection, now_ms, ServerFilter(model=model, limit=MAX_ROWS))
    earned = dict(
        connection.execute(
            select(MovementRow.to_account, func.sum(MovementRow.amount))
            .where(MovementRow.purpose == "release")
            .group_by(MovementRow.to_account)
        ).all()
    )
    bonds = dict(
        connection.execute(select(AccountRow.owner_key, AccountRow.balance).where(AccountRow.kind == "bond")).all()
    )
    return [
        s | {"earned": int(earned.get(s["public_key"]) or 0), "bond": int(bonds.get(s["public_key"]) or 0)}
        for s in servers
    ]


def market(connection: Connection) -> dict[str, Any]:
    accounts = connection.execute(
        select(AccountRow).where(AccountRow.balance > 0).order_by(AccountRow.balance.desc()).limit(MAX_ROWS)
    ).mappings()
    notable = ("slash", "bounty", "refund", "mint")
    movements = connection.execute(
        select(MovementRow).where(MovementRow.purpose.in_(notable)).order_by(MovementRow.position.desc()).limit(200)
    ).mappings()
    holds = connection.execute(
        select(EscrowHoldRow)
        .where(EscrowHoldRow.state.in_(OPEN_HOLD))
        .order_by(EscrowHoldRow.opened_seq.desc())
        .limit(200)
    ).mappings()
    return {
        "summary": market_summary(connection),
        "accounts": [dict(a) for a in accounts],
        "movements": [dict(m) for m in movements],
        "holds": [dict(h) for h in holds],
    }


def overview(connection: Connection, engine: Any, now_ms: int) -> dict[str, Any]:
    servers = all_servers(connection, now_ms)
    models = sorted({s["model_id"] for s in servers if s["model_id"]})
    states = {state: sum(s["reputation"]["state"] == state for s in servers) for state in ("trusted", "newcomer")}
    states["quarantined"] = sum(s["reputation"]["state"] == "quarantined" for s in servers)
    head = connection.execute(select(ChainHead.seq, ChainHead.hash)).one()

    def count(table: Any, *where: Any) -> int:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)

    return {
        "maps": [(model, coverage_map([s for s in servers if s["model_id"] == model])) for model in models],
        "capacity": {c.model_id: c for c in capacity(connection, now_ms)},
        "totals": {
            "servers": len(servers),
            "online": sum(s["online"] for s in servers),
            **states,
            "receipts": count(ReceiptRow),
            "challenges": count(ChallengeRow),
            "undecided": count(ChallengeRow, ChallengeRow.phase != "decided"),
            "open_disputes": count(DisputeRow, DisputeRow.state == "open"),
            "verifiers": count(VerifierRow),
        },
        "head": {"seq": head.seq, "hash": head.hash},
        "audit": last_audit(engine),
        "truncated": len(servers) >= MAX_ROWS,
    }


def server_page(connection: Connection, key: str, now_ms: int) -> dict[str, Any] | None:
    server = get_server(connection, key, now_ms)
    if server is None:
        return None
    verdicts = connection.execute(
        select(VerdictRow).where(VerdictRow.server_key == key).order_by(VerdictRow.event_seq.desc()).limit(100)
    ).mappings()
    receipts = connection.execute(
        select(ReceiptRow).where(ReceiptRow.server_key == key).order_by(ReceiptRow.event_seq.desc()).limit(50)
    ).mappings()
    actions = connection.execute(
        select(AdminActionRow).where(AdminActionRow.server_key == key).order_by(AdminActionRow.event_seq.desc())
    ).mappings()
    return {
        "server": server,
        "chart": band_chart(reputation_history(connection, key)),
        "verdicts": [dict(v) for v in verdicts],
        "receipts": [dict(r) for r in receipts],
        "actions": [dict(a) for a in actions],
    }


def disputes(connection: Connection, verdicts_needed: int) -> list[dict[str, Any]]:
    """The newest disputes; ``verdicts_needed`` is what a FAIL needs before it may stand (the quorum)."""
    rows = connection.execute(select(DisputeRow).order_by(DisputeRow.opened_seq.desc()).limit(200)).mappings()
    return [dispute_json(connection, dict(d), verdicts_needed) for d in rows]


def verifiers(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(select(VerifierRow).order_by(VerifierRow.first_seq)).mappings()
    return [dict(r) | {"reliability": reliability(r["agreements"], r["disagreements"])} for r in rows]


def names(connection: Connection) -> dict[str, str]:
    """Display names of announced servers, by key."""
    return dict(connection.execute(select(ServerDirectoryRow.server_key, ServerDirectoryRow.name)).all())
