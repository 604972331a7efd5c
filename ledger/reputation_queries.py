"""Reading reputations as of now (the long horizon decayed lazily), for the API and the DHT snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ledger.market_rules import DEFAULT_MARKET
from ledger.models import AccountRow, CohortRow, ReputationRow
from ledger.reputation import describe, newcomer, newcomer_prior_mean
from ledger.reputation_projection import COHORT_START, from_row
from node.beta import Beta


def newcomer_view(connection: Connection, now_ms: int) -> dict[str, Any]:
    """What a never-checked server's reputation is today: the empirical-Bayes newcomer prior."""
    row = connection.execute(select(CohortRow)).mappings().first()
    if row is None:
        cohort, elapsed = COHORT_START, 0
    else:
        cohort = Beta(row["prior_alpha"], row["prior_beta"], row["honest"], row["dishonest"])
        elapsed = now_ms - row["updated_ms"]
    return describe(newcomer(newcomer_prior_mean(cohort, elapsed), now_ms), now_ms) | {"bonded": False}


def bonded_servers(connection: Connection, keys: list[str] | None = None) -> set[str]:
    """The servers (all, or among ``keys``) whose bond is enough for full routing weight."""
    query = select(AccountRow.owner_key).where(
        AccountRow.kind == "bond", AccountRow.balance >= DEFAULT_MARKET.full_bond
    )
    if keys is not None:
        query = query.where(AccountRow.owner_key.in_(keys))
    return {str(key) for key in connection.execute(query).scalars()}


def server_view(connection: Connection, key: str, now_ms: int) -> dict[str, Any]:
    row = connection.execute(select(ReputationRow).where(ReputationRow.server_key == key)).mappings().first()
    bonded = key in bonded_servers(connection, [key])
    if row is None:
        return {"server_key": key, "checked": False, **newcomer_view(connection, now_ms), "bonded": bonded}
    view = describe(from_row(dict(row)), now_ms)
    return {"server_key": key, "model_id": row["model_id"], "checked": True, **view, "bonded": bonded}


def model_views(connection: Connection, model_id: str, now_ms: int) -> dict[str, dict[str, Any]]:
    rows = connection.execute(select(ReputationRow).where(ReputationRow.model_id == model_id)).mappings().all()
    bonded = bonded_servers(connection, [row["server_key"] for row in rows])
    return {
        row["server_key"]: describe(from_row(dict(row)), now_ms) | {"bonded": row["server_key"] in bonded}
        for row in rows
    }


def model_version(connection: Connection, model_id: str) -> tuple[object, ...]:
    """What a model's page of reputations depends on: the newest event folded into any of its servers, the
    newcomer cohort, and the newest change to any bond. Equal versions, equal pages (up to the lazy decay)."""
    last = connection.execute(select(func.max(ReputationRow.last_seq)).where(ReputationRow.model_id == model_id))
    cohort = connection.execute(
        select(CohortRow.prior_alpha, CohortRow.prior_beta, CohortRow.honest, CohortRow.dishonest, CohortRow.updated_ms)
    ).first()
    bonds = connection.execute(select(func.max(AccountRow.last_seq)).where(AccountRow.kind == "bond")).scalar()
    return (last.scalar(), None if cohort is None else tuple(cohort), bonds)


def checked_models(connection: Connection) -> list[str]:
    return list(connection.execute(select(ReputationRow.model_id).distinct()).scalars())
