"""Reading reputations as of now (the long horizon decayed lazily), for the API and the DHT snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from swarmtrust.ledger.market_rules import bond_account, bond_terms
from swarmtrust.ledger.models import AccountRow, CohortRow, PriceRow, ReputationRow, ServerDirectoryRow
from swarmtrust.ledger.reputation import describe, newcomer, newcomer_prior_mean
from swarmtrust.ledger.reputation_projection import from_row
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.bond_rule import fully_bonded, session_block_tokens
from swarmtrust.protocol.newcomers import COHORT_START

UNBONDED: dict[str, Any] = {"bond": 0, "price": 0, "bonded": False}


def newcomer_view(connection: Connection, now_ms: int) -> dict[str, Any]:
    """What a never-checked server's reputation is today: the empirical-Bayes newcomer prior."""
    row = connection.execute(select(CohortRow)).mappings().first()
    if row is None:
        cohort, elapsed = COHORT_START, 0
    else:
        cohort = Beta(row["prior_alpha"], row["prior_beta"], row["honest"], row["dishonest"])
        elapsed = now_ms - row["updated_ms"]
    return describe(newcomer(newcomer_prior_mean(cohort, elapsed), now_ms), now_ms) | UNBONDED


def bond_standings(connection: Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Each server's bond and price (micro-credits; per block-token) and whether the bond meets the bond rule
    (``protocol.bond_rule``) for a full-length session through its announced span (one block if it announced
    none). Clients decide with the span they see in the DHT; this is the ledger's summary of the same rule."""
    bonds = dict(
        connection.execute(
            select(AccountRow.owner_key, AccountRow.balance).where(
                AccountRow.account.in_([bond_account(k) for k in keys])
            )
        ).all()
    )
    prices = dict(
        connection.execute(select(PriceRow.server_key, PriceRow.price).where(PriceRow.server_key.in_(keys))).all()
    )
    spans = dict(
        connection.execute(
            select(ServerDirectoryRow.server_key, ServerDirectoryRow.block_end - ServerDirectoryRow.block_start).where(
                ServerDirectoryRow.server_key.in_(keys)
            )
        ).all()
    )
    out = {}
    for key in keys:
        bond, price = int(bonds.get(key) or 0), int(prices.get(key) or 0)
        block_tokens = session_block_tokens(max(1, int(spans.get(key) or 1)))
        out[key] = {"bond": bond, "price": price, "bonded": fully_bonded(bond, price, block_tokens, bond_terms())}
    return out


def server_view(connection: Connection, key: str, now_ms: int) -> dict[str, Any]:
    row = connection.execute(select(ReputationRow).where(ReputationRow.server_key == key)).mappings().first()
    standing = bond_standings(connection, [key])[key]
    if row is None:
        return {"server_key": key, "checked": False, **newcomer_view(connection, now_ms), **standing}
    view = describe(from_row(dict(row)), now_ms)
    return {"server_key": key, "model_id": row["model_id"], "checked": True, **view, **standing}


def model_views(connection: Connection, model_id: str, now_ms: int) -> dict[str, dict[str, Any]]:
    rows = connection.execute(select(ReputationRow).where(ReputationRow.model_id == model_id)).mappings().all()
    standings = bond_standings(connection, [row["server_key"] for row in rows])
    return {row["server_key"]: describe(from_row(dict(row)), now_ms) | standings[row["server_key"]] for row in rows}


def model_version(connection: Connection, model_id: str) -> tuple[object, ...]:
    """What a model's page of reputations depends on: the newest event folded into any of its servers, the
    newcomer cohort, the newest change to any bond, price or announced span. Equal versions, equal pages (up to
    the lazy decay)."""
    last = connection.execute(select(func.max(ReputationRow.last_seq)).where(ReputationRow.model_id == model_id))
    cohort = connection.execute(
        select(CohortRow.prior_alpha, CohortRow.prior_beta, CohortRow.honest, CohortRow.dishonest, CohortRow.updated_ms)
    ).first()
    bonds = connection.execute(select(func.max(AccountRow.last_seq)).where(AccountRow.kind == "bond")).scalar()
    prices = connection.execute(select(func.max(PriceRow.last_seq))).scalar()  # a raised price counts at once
    spans = connection.execute(select(func.max(ServerDirectoryRow.last_seq))).scalar()
    return (last.scalar(), None if cohort is None else tuple(cohort), bonds, prices, spans)


def checked_models(connection: Connection) -> list[str]:
    return list(connection.execute(select(ReputationRow.model_id).distinct()).scalars())
