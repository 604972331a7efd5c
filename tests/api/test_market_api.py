"""The market over real HTTP, against a `swarmtrust api serve` process on SQLite and PostgreSQL: minting by an
administrator, signed transfers, bonds, prices and payments, escrow released by a settlement, and refusals
that write nothing."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.market_records import BondDeposit, PriceQuote, SessionPayment, Transfer
from swarmtrust.protocol.signing import sign_record
from tests.builders import new_key

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
T0 = 1_795_000_000_000


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[str]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api("--challenge-window", "0", "--settle-interval", "0", db_url=db_url, admin_token=TOKEN)


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


def get(api: str, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{api}/api/v1{path}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def admin(api: str, path: str, token: str | None = TOKEN, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{api}/api/v1/admin{path}", json=body, headers=headers, timeout=60)


def send(api: str, key: Any, kind: str, record: Any, signer: Any = None) -> dict[str, Any]:
    with LedgerApi(api, key) as ledger:
        wire = sign_record(record, signer or key).to_wire()
        answer: dict[str, Any] = ledger.request("POST", f"/market/{kind}", wire, "application/octet-stream").json()
        return answer


def head(api: str) -> int:
    return int(httpx.get(f"{api}/health").json()["head_seq"])


def test_credits_flow_from_mint_through_escrow_to_the_server(api: str) -> None:
    client, server, other = new_key(), new_key(), new_key()
    assert admin(api, "/mint", token=None, account=hexkey(client), amount=5, reason="x").status_code == 401
    assert admin(api, "/mint", account="somebody", amount=5, reason="x").status_code == 422
    assert head(api) == 0, "refused: nothing written"
    assert admin(api, "/mint", account=hexkey(client), amount=1_000_000, reason="faucet").status_code == 200
    assert admin(api, "/mint", account=hexkey(server), amount=200_000, reason="faucet").status_code == 200

    sk = bytes(server.verify_key)
    send(api, server, "bond", BondDeposit(os.urandom(16), sk, 150_000, T0))
    send(api, server, "price", PriceQuote(sk, "tiny", 40, T0))
    assert get(api, f"/accounts/{hexkey(server)}") == {
        "account": hexkey(server), "kind": "key", "balance": 50_000, "bond": 150_000, "fully_bonded": False,
        "price": 40, "paying_in_escrow": 0, "earning_in_escrow": 0,
    }  # fmt: skip

    session = os.urandom(16)
    payment = SessionPayment(os.urandom(16), bytes(client.verify_key), sk, session, 100, 4_000, T0)
    assert send(api, client, "payment", payment)["kind"] == "payment"
    assert get(api, f"/accounts/{hexkey(client)}")["paying_in_escrow"] == 4_000
    (hold,) = get(api, "/escrow", client=hexkey(client))["items"]
    assert (hold["state"], hold["amount"], hold["session_id"]) == ("held", 4_000, session.hex())

    settled = admin(api, "/settle").json()
    assert settled["released"] == 1 and get(api, "/escrow", state="released")["items"][0]["hold"] == hold["hold"]
    market = get(api, "/market")
    assert market["minted"] == 1_200_000 and market["in_escrow"] == 0 and market["in_bonds"] == 150_000
    assert market["in_accounts"] + market["treasury"] + market["in_bonds"] == market["minted"]

    moved = get(api, f"/accounts/{hexkey(server)}/movements", limit=2)
    rest = get(api, f"/accounts/{hexkey(server)}/movements", cursor=moved["next_cursor"])
    purposes = [m["purpose"] for m in moved["items"] + rest["items"]]
    assert purposes == ["release", "bond", "mint"] and rest["next_cursor"] is None

    send(
        api,
        client,
        "transfer",
        Transfer(os.urandom(16), bytes(client.verify_key), bytes(other.verify_key), 7, "tip", T0),
    )
    assert get(api, f"/accounts/{hexkey(other)}")["balance"] == 7
    assert get(api, f"/servers/{hexkey(server)}/reputation")["bonded"] is False, "0.15 credits: not a full bond"
    # The bond rule at 40 micro-credits per block-token (one block, 2,048 tokens) asks 137.63 credits.
    admin(api, "/mint", account=hexkey(server), amount=200_000_000, reason="for a full bond")
    send(api, server, "bond", BondDeposit(os.urandom(16), sk, 200_000_000, T0))
    assert get(api, f"/servers/{hexkey(server)}/reputation")["bonded"] is True
    assert get(api, "/reputation", server=hexkey(server))["servers"][hexkey(server)]["bonded"] is True

    audit = admin(api, "/audit").json()
    assert audit["ok"], audit


def test_market_records_are_refused_when_replayed_stolen_or_unfunded(api: str) -> None:
    alice, bob = new_key(), new_key()
    admin(api, "/mint", account=hexkey(alice), amount=100, reason="faucet")
    transfer = Transfer(os.urandom(16), bytes(alice.verify_key), bytes(bob.verify_key), 60, None, T0)
    send(api, alice, "transfer", transfer)
    before = head(api)
    with pytest.raises(LedgerApiError) as replayed:
        send(api, alice, "transfer", transfer)  # the same signed record in a new, validly signed request
    assert (replayed.value.status, replayed.value.code) == (409, "duplicate")
    with pytest.raises(LedgerApiError) as stolen:  # bob relays a transfer that alice signed
        send(
            api,
            bob,
            "transfer",
            Transfer(os.urandom(16), bytes(alice.verify_key), bytes(bob.verify_key), 1, None, T0),
            signer=alice,
        )
    assert (stolen.value.status, stolen.value.code) == (403, "not_yours")
    with pytest.raises(LedgerApiError) as broke:
        send(
            api,
            alice,
            "transfer",
            Transfer(os.urandom(16), bytes(alice.verify_key), bytes(bob.verify_key), 41, None, T0),
        )
    assert (broke.value.status, broke.value.code) == (409, "insufficient_funds")
    with pytest.raises(LedgerApiError) as garbage, LedgerApi(api, alice) as ledger:
        ledger.request("POST", "/market/transfer", b"\x92\xc4\x01x\xc4\x01y", "application/octet-stream")
    assert garbage.value.status == 400
    assert head(api) == before and get(api, f"/accounts/{hexkey(alice)}")["balance"] == 40
