"""``swarmtrust market`` as an operator runs it, against a real ledger service: balance, bond, unbond, price,
transfer and history; an unbond while the server's last session can still be challenged is refused in one line
and changes nothing; bad amounts are refused before anything is sent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.keys import generate_key_file
from swarmtrust.protocol.market_records import MICRO
from tests.builders import new_key, session_receipts

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = "market-cli-admin-token"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A ledger service (challenge window: the default 600 s) and an operator's key holding 20 credits."""
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api(admin_token=TOKEN)
        key_file = tmp_path / "operator.key"
        key = generate_key_file(key_file)
        with LedgerApi(url, admin_token=TOKEN) as admin:
            admin.post_json(
                "/admin/mint", {"account": bytes(key.verify_key).hex(), "amount": 20 * MICRO, "reason": "t"}
            )
        yield url, key_file


def market(ledger: tuple[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    url, key = ledger
    command = [sys.executable, "-m", "swarmtrust", "market", *args, "--key", str(key), "--ledger", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def account(ledger: tuple[str, Path]) -> dict[str, Any]:
    done = market(ledger, "balance", "--json")
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_bond_unbond_price_transfer_and_history(ledger: tuple[str, Path]) -> None:
    assert market(ledger, "bond", "10").returncode == 0
    assert (account(ledger)["balance"], account(ledger)["bond"]) == (10 * MICRO, 10 * MICRO)
    freed = market(ledger, "unbond", "2.5")
    assert freed.returncode == 0, freed.stderr
    assert "unbond recorded" in freed.stdout and "balance 12.5 credits; bond 7.5" in freed.stdout
    assert market(ledger, "price", "1000").returncode == 0
    assert account(ledger)["price"] == 1000
    payee = bytes(new_key().verify_key).hex()
    assert market(ledger, "transfer", "0.5", "--to", payee, "--memo", "for my client key").returncode == 0
    assert account(ledger)["balance"] == 12 * MICRO
    lines = market(ledger, "history").stdout.splitlines()
    assert [line.split()[3] for line in lines] == ["transfer", "unbond", "bond", "mint"]
    assert "-0.5" in lines[0] and payee in lines[0]


def test_an_unbond_within_the_challenge_window_of_the_last_session_is_refused(ledger: tuple[str, Path]) -> None:
    url, key_file = ledger
    assert market(ledger, "bond", "10").returncode == 0
    from swarmtrust.protocol.keys import load_signing_key

    an_hour_ago = time.time_ns() // 1_000_000 - 3_600_000  # backdated by the server: its clock does not count
    receipts = session_receipts(load_signing_key(key_file), 3, timestamp_ms=an_hour_ago)
    with LedgerApi(url, new_key()) as client:
        body = msgpack.packb([r.to_wire() for r in receipts], use_bin_type=True)
        assert client.request("POST", "/receipts", body, "application/x-msgpack").json()["accepted"] == 3
    refused = market(ledger, "unbond", "1")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "can be challenged until" in lines[0] and "409 bond_locked" in lines[0]
    assert (account(ledger)["balance"], account(ledger)["bond"]) == (10 * MICRO, 10 * MICRO), "nothing moved"


@pytest.mark.parametrize("amount", ["0", "-1", "1.0000001", "lots", "nan"])
def test_a_bad_amount_is_refused_before_anything_is_sent(ledger: tuple[str, Path], amount: str) -> None:
    done = market(ledger, "bond", amount)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert account(ledger)["bond"] == 0 and account(ledger)["balance"] == 20 * MICRO


def test_a_transfer_to_a_malformed_key_is_refused(ledger: tuple[str, Path]) -> None:
    done = market(ledger, "transfer", "1", "--to", "abc")
    assert done.returncode == 1 and done.stderr.strip() == "error: --to 'abc': a public key is 64 hex digits"
    assert account(ledger)["balance"] == 20 * MICRO


def test_unbonding_more_than_the_bond_is_refused(ledger: tuple[str, Path]) -> None:
    assert market(ledger, "bond", "1").returncode == 0
    done = market(ledger, "unbond", "2")
    assert done.returncode == 1 and "insufficient_funds" in done.stderr
    assert account(ledger)["bond"] == MICRO
