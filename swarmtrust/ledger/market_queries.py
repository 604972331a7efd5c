"""Reading the market for the REST API and the dashboard: accounts, their movements, escrow, totals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, or_, select

from swarmtrust.ledger.market_rules import account_kind
from swarmtrust.ledger.models import AccountRow, EscrowHoldRow, MovementRow, PriceRow
from swarmtrust.ledger.reputation_queries import bond_standings

OPEN_HOLD = ("held", "challenged")


def _held(connection: Connection, column: Any, key: str) -> int:
    total = connection.execute(
        select(func.coalesce(func.sum(EscrowHoldRow.amount), 0)).where(
            column == key, EscrowHoldRow.state.in_(OPEN_HOLD)
        )
    ).scalar()
    return int(total or 0)


def account_view(connection: Connection, account: str) -> dict[str, Any]:
    """A key's account with its bond, price and escrow on either side; or a market account's balance."""
    row = connection.execute(select(AccountRow).where(AccountRow.account == account)).mappings().first()
    view: dict[str, Any] = {
        "account": account,
        "kind": account_kind(account)[0],
        "balance": int(row["balance"]) if row else 0,
    }
    if view["kind"] != "key":
        return view | {"bond": None, "fully_bonded": None, "price": None, "paying_in_escrow": None,
                       "earning_in_escrow": None}  # fmt: skip
    standing = bond_standings(connection, [account])[account]  # the bond rule, as reputations say ``bonded``
    price = connection.execute(select(PriceRow.price).where(PriceRow.server_key == account)).scalar()
    return view | {
        "bond": standing["bond"],
        "fully_bonded": standing["bonded"],
        "price": price,
        "paying_in_escrow": _held(connection, EscrowHoldRow.client_key, account),
        "earning_in_escrow": _held(connection, EscrowHoldRow.server_key, account),
    }


def movements_query(account: str) -> Any:
    return or_(MovementRow.from_account == account, MovementRow.to_account == account)


def market_summary(connection: Connection) -> dict[str, Any]:
    def total(purpose: str) -> int:
        found = connection.execute(
            select(func.coalesce(func.sum(MovementRow.amount), 0)).where(MovementRow.purpose == purpose)
        ).scalar()
        return int(found or 0)

    by_kind = select(AccountRow.kind, func.sum(AccountRow.balance)).group_by(AccountRow.kind)
    balances = dict(connection.execute(by_kind).all())
    open_holds = connection.execute(
        select(func.count()).select_from(EscrowHoldRow).where(EscrowHoldRow.state.in_(OPEN_HOLD))
    ).scalar()
    return {
        "minted": total("mint"),
        "in_accounts": int(balances.get("key") or 0),
        "in_escrow": int(balances.get("escrow") or 0),
        "in_bonds": int(balances.get("bond") or 0),
        "treasury": int(balances.get("treasury") or 0),
        "open_holds": int(open_holds or 0),
        "paid": total("payment"),
        "released": total("release"),
        "refunded": total("refund"),
        "slashed": total("slash") + total("bounty"),
        "bounties": total("bounty"),
        "verifier_fees": total("fee"),
    }
