"""A client paying for its sessions through a real ledger service (SQLite): bills paid into escrow at each
server's price, free servers not charged, a shortfall reported rather than raised, and servers the client
cannot pay routed around."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.payments import Bill, affordable, pay
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.market_records import PriceQuote
from swarmtrust.protocol.signing import sign_record
from tests.builders import new_key, signed_announcement

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api("--settle-interval", "0", admin_token=TOKEN)


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


def quote(api: str, server: Any, price: int) -> None:
    with LedgerApi(api, server) as ledger:
        record = PriceQuote(bytes(server.verify_key), "tiny", price, 1_795_000_000_000)
        ledger.request("POST", "/market/price", sign_record(record, server).to_wire(), "application/octet-stream")


def fund(api: str, key: Any, micro: int) -> None:
    body = {"account": hexkey(key), "amount": micro, "reason": "test"}
    httpx.post(f"{api}/api/v1/admin/mint", json=body, headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()


def test_bills_are_paid_at_each_servers_price_and_a_shortfall_is_reported(api: str) -> None:
    client, cheap, free, dear = new_key(), new_key(), new_key(), new_key()
    quote(api, cheap, 2)
    quote(api, dear, 1_000)
    fund(api, client, 1_000)
    owed = [Bill(hexkey(cheap), os.urandom(16), 300), Bill(hexkey(free), os.urandom(16), 300)]
    owed.append(Bill(hexkey(dear), os.urandom(16), 300))
    with LedgerApi(api, client) as ledger:
        outcomes = pay(ledger, client, owed)
    assert [(p.status, p.amount) for p in outcomes] == [("paid", 600), ("free", 0), ("insufficient_funds", 300_000)]
    account = httpx.get(f"{api}/api/v1/accounts/{hexkey(client)}").json()
    assert (account["balance"], account["paying_in_escrow"]) == (400, 600)


def test_servers_the_client_cannot_pay_are_routed_around(api: str) -> None:
    client, cheap, free, dear = new_key(), new_key(), new_key(), new_key()
    quote(api, cheap, 1)
    quote(api, dear, 10)
    fund(api, client, 1_000)
    servers = [ServerInfo(signed_announcement(k, block_start=0, block_end=4).record) for k in (cheap, free, dear)]
    with LedgerApi(api, client) as ledger:
        kept = affordable(ledger, client, servers, max_tokens=100)  # cheap: 400 ≤ 1000; dear: 4000 > 1000
        assert [s.key for s in kept] == [hexkey(cheap), hexkey(free)]
        broke = affordable(ledger, new_key(), servers, max_tokens=100)
    assert [s.key for s in broke] == [hexkey(free)], "a client without credits keeps only free servers"
