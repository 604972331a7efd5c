"""The credit market over REST: accounts and their movements, escrow, totals; signed market records from
nodes (transfers, bonds, prices, payments); administrators mint credits and settle escrow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.admin_auth import Admin
from swarmtrust.api.auth import SignedBy
from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody
from swarmtrust.api.deps import KeyQuery, LedgerEngine
from swarmtrust.api.pagination import Cursor, Limit, newest_first
from swarmtrust.api.schemas import (
    COMMON_ERRORS,
    AccountOut,
    ErrorBody,
    EscrowHoldOut,
    MarketSummary,
    MarketTaken,
    MintIn,
    MovementOut,
    Page,
    SettlementOut,
)
from swarmtrust.api.service import Service
from swarmtrust.ledger.market import NODE_RECORDS, mint, settle, take_node_record
from swarmtrust.ledger.market_queries import account_view, market_summary, movements_query
from swarmtrust.ledger.models import EscrowHoldRow, MovementRow
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["market"], responses=COMMON_ERRORS)
ACCOUNT = r"^([0-9a-f]{64}|escrow|treasury|bond:[0-9a-f]{64})$"
AccountPath = Annotated[str, Path(pattern=ACCOUNT, description="A hex key, escrow, treasury or bond:KEY")]
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The signed record's envelope (msgpack [body, signature]), signed by the request's key",
    }
}


@router.get("/market", summary="The market's totals: minted, in accounts, escrow, bonds, treasury, slashes")
def summary(engine: LedgerEngine) -> MarketSummary:
    with engine.connect() as connection:
        return MarketSummary.model_validate(market_summary(connection))


@router.get("/accounts/{account}", summary="An account's balance; for a key also its bond, price and escrow")
def account(engine: LedgerEngine, account: AccountPath) -> AccountOut:
    with engine.connect() as connection:
        return AccountOut.model_validate(account_view(connection, account))


@router.get("/accounts/{account}/movements", summary="Movements into and out of an account, newest first")
def movements(
    engine: LedgerEngine, account: AccountPath, cursor: Cursor = None, limit: Limit = 100
) -> Page[MovementOut]:
    found = newest_first(engine, "movements", MovementRow.position, {}, cursor, limit, where=movements_query(account))
    return Page[MovementOut].model_validate(found)


@router.get("/escrow", summary="Escrow holds, newest first; by client, server and state")
def escrow(
    engine: LedgerEngine,
    client: KeyQuery = None,
    server: KeyQuery = None,
    state: Annotated[str | None, Query(pattern="^(held|challenged|released|refunded)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EscrowHoldOut]:
    filters = {EscrowHoldRow.client_key: client, EscrowHoldRow.server_key: server, EscrowHoldRow.state: state}
    return Page[EscrowHoldOut].model_validate(
        newest_first(engine, "escrow", EscrowHoldRow.opened_seq, filters, cursor, limit)
    )


@router.post(
    "/market/{kind}",
    summary="A signed market record of the request's key: transfer, bond, unbond, price or payment",
    openapi_extra=BINARY_BODY,
    responses={
        **UNSUPPORTED_MEDIA,
        401: {"model": ErrorBody, "description": "The request is not signed, stale or replayed"},
        403: {"model": ErrorBody, "description": "The record is signed by another key than the request"},
        409: {
            "model": ErrorBody,
            "description": "Refused by a market rule, or an unbond while the server can still be challenged "
            "(bond_locked): nothing was written",
        },
    },
)
async def take(
    body: MsgpackBody,
    caller: SignedBy,
    engine: LedgerEngine,
    service: Service,
    kind: Annotated[str, Path(pattern="^(" + "|".join(NODE_RECORDS) + ")$")],
) -> MarketTaken:
    window = service.challenge_window_ms
    taken: Any = await run_in_threadpool(lambda: take_node_record(engine, kind, body, caller, window_ms=window))
    return MarketTaken(seq=taken.seq, kind=taken.kind)


@router.post(
    "/admin/mint",
    tags=["administration"],
    summary="Mint credits to a key's account or the treasury (recorded as a ledger-signed event)",
    responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def mint_credits(service: Service, admin: Admin, engine: LedgerEngine, body: MintIn) -> MarketTaken:
    taken: Any = await run_in_threadpool(
        lambda: mint(
            engine,
            service.ledger_key,
            account=body.account,
            amount=body.amount,
            reason=body.reason,
            admin=admin.name,
        )
    )
    return MarketTaken(seq=taken.seq, kind=taken.kind)


@router.post(
    "/admin/settle",
    tags=["administration"],
    summary="Release now every escrow hold whose challenge window has passed",
    responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def settle_now(service: Service, admin: Admin, engine: LedgerEngine) -> SettlementOut:
    window = service.challenge_window_ms
    taken, released = await run_in_threadpool(lambda: settle(engine, service.ledger_key, window_ms=window))
    return SettlementOut(seq=taken.seq if taken else None, released=released)
