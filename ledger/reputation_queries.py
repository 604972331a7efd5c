"""Reading reputations as of now (the long horizon decayed lazily), for the API and the DHT snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ledger.models import CohortRow, ReputationRow
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
    return describe(newcomer(newcomer_prior_mean(cohort, elapsed), now_ms), now_ms)


def server_view(connection: Connection, key: str, now_ms: int) -> dict[str, Any]:
    row = connection.execute(select(ReputationRow).where(ReputationRow.server_key == key)).mappings().first()
    if row is None:
        return {"server_key": key, "checked": False, **newcomer_view(connection, now_ms)}
    return {"server_key": key, "model_id": row["model_id"], "checked": True, **describe(from_row(dict(row)), now_ms)}


def model_views(connection: Connection, model_id: str, now_ms: int) -> dict[str, dict[str, Any]]:
    rows = connection.execute(select(ReputationRow).where(ReputationRow.model_id == model_id)).mappings().all()
    return {row["server_key"]: describe(from_row(dict(row)), now_ms) for row in rows}


def model_version(connection: Connection, model_id: str) -> tuple[object, ...]:
    """What a model's page of reputations depends on: the newest event folded into any of its servers, and the
    newcomer cohort. Equal versions, equal pages (up to the lazy decay with time)."""
    last = connection.execute(select(func.max(ReputationRow.last_seq)).where(ReputationRow.model_id == model_id))
    cohort = connection.execute(
        select(CohortRow.prior_alpha, CohortRow.prior_beta, CohortRow.honest, CohortRow.dishonest, CohortRow.updated_ms)
    ).first()
    return (last.scalar(), None if cohort is None else tuple(cohort))


def checked_models(connection: Connection) -> list[str]:
    return list(connection.execute(select(ReputationRow.model_id).distinct()).scalars())
