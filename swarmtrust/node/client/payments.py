"""Paying servers for a finished generation through the ledger's market (``ClientConfig.pay``).

A client owes each server, for each of its sessions there, the block-tokens its checked receipts show
(tokens of the step × blocks of the hop) at the price the server quoted to the ledger. The payment goes into
escrow and reaches the server once the challenge window has passed, unless a check of the session fails.

Servers that quote no price work for free and get nothing. Work replayed to a replacement server during a
failover is billed like any step: it carries a checked receipt of its own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.signing

from swarmtrust.node.client.session import HopRecord
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.market_records import SessionPayment
from swarmtrust.protocol.signing import sign_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bill:
    server_key: str
    session_id: bytes
    block_tokens: int


@dataclass(frozen=True)
class Paid:
    server_key: str
    session_id: str
    block_tokens: int
    amount: int  # micro-credits; 0 when the server charges nothing
    status: str  # paid, free, or the ledger's refusal code (e.g. insufficient_funds)


def bills(steps: Sequence[Sequence[HopRecord]]) -> list[Bill]:
    """Block-tokens per server session, from the receipts of the generation's steps and replays, grouped as
    the caller likes (in first-seen order)."""
    owed: dict[tuple[str, bytes], int] = {}
    for step in steps:
        for hop in step:
            if hop.receipt is None:
                continue  # no receipt, no proof of work: nothing is owed for it
            receipt = hop.receipt.record
            tokens = receipt.input_shape[1] if len(receipt.input_shape) > 1 else 1
            slot = (hop.server_key, receipt.session_id)
            owed[slot] = owed.get(slot, 0) + tokens * (receipt.block_end - receipt.block_start)
    return [Bill(server, session, block_tokens) for (server, session), block_tokens in owed.items()]


def pay(api: LedgerApi, key: nacl.signing.SigningKey, owed: Sequence[Bill]) -> list[Paid]:
    """Pay each bill at its server's quoted price; a refusal is reported, never raised (the tokens stand)."""
    prices: dict[str, int] = {}
    outcomes = []
    for bill in owed:
        if bill.server_key not in prices:
            prices[bill.server_key] = _price(api, bill.server_key)
        price = prices[bill.server_key]
        amount = bill.block_tokens * price
        if amount == 0:
            outcomes.append(Paid(bill.server_key, bill.session_id.hex(), bill.block_tokens, 0, "free"))
            continue
        record = SessionPayment(
            os.urandom(16),
            bytes(key.verify_key),
            bytes.fromhex(bill.server_key),
            bill.session_id,
            bill.block_tokens,
            amount,
            time.time_ns() // 1_000_000,
        )
        try:
            api.request("POST", "/market/payment", sign_record(record, key).to_wire(), "application/octet-stream")
            status = "paid"
        except LedgerApiError as exc:
            log.warning("could not pay server %s: %s", bill.server_key[:16], exc)
            status = exc.code
        outcomes.append(Paid(bill.server_key, bill.session_id.hex(), bill.block_tokens, amount, status))
    return outcomes


def _price(api: LedgerApi, server_key: str) -> int:
    try:
        account: dict[str, Any] = api.get(f"/accounts/{server_key}")
    except LedgerApiError as exc:
        log.warning("no price for server %s (%s): not paying it", server_key[:16], exc)
        return 0
    return int(account.get("price") or 0)


def affordable(api: LedgerApi, key: nacl.signing.SigningKey, servers: Sequence[Any], max_tokens: int) -> list[Any]:
    """The servers whose whole session (``max_tokens`` through their span, at their price) this client's balance
    covers: the others are routed around, never used and left unpaid. Servers that charge nothing always stay."""
    me = bytes(key.verify_key).hex()
    try:
        balance = int(api.get(f"/accounts/{me}")["balance"])
    except LedgerApiError as exc:
        log.warning("cannot read this client's balance (%s): routing through free servers only", exc)
        balance = 0
    prices: dict[str, int] = {}
    kept = []
    for server in servers:
        if server.key not in prices:
            prices[server.key] = _price(api, server.key)
        if prices[server.key] * max_tokens * (server.end - server.start) <= balance:
            kept.append(server)
    if len(kept) < len(servers):
        log.info("routing around %d servers this client cannot pay (balance %d)", len(servers) - len(kept), balance)
    return kept
