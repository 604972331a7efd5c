"""Routing by the bond rule from a real ledger's answer: two servers with the same clean record, one bonded as
the rule asks at its price and one short of it, read over real HTTP from `swarmtrust api serve` (SQLite and
PostgreSQL); the short one carries no session outside the exploration budget, and a server that raises its
price above what its bond covers loses full routing as soon as the client reads the ledger again."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.market import mint, take_node_record
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, fetch_reputation
from swarmtrust.node.client.route_policy import FULL, SHORT_OF_BOND, Router
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.bond_rule import required_bond, session_block_tokens
from swarmtrust.protocol.market_records import BondDeposit, PriceQuote
from swarmtrust.protocol.signing import sign_record
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

LEDGER_KEY = new_key()
VERIFIER = new_key()
PRICE = 1_000  # micro-credits per block-token
SPAN = 8


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hexkey(key: nacl.signing.SigningKey) -> str:
    return bytes(key.verify_key).hex()


def trusted_by_checks(ledger: Ledger, server: nacl.signing.SigningKey, passes: int = 10) -> None:
    """``passes`` passing spot checks in a row (by ``VERIFIER``, the only one present): enough to leave the
    newcomer state."""
    desk = SpotChecks(ledger.engine, LEDGER_KEY, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
    verifier = VERIFIER
    for _ in range(passes):
        receipts, evidence = evidence_session(server, 2)
        encoded = evidence.encode()
        desk.submit_challenge(challenge_for(new_key(), receipts, encoded).to_wire(), encoded)
        claimed = desk.claim(bytes(verifier.verify_key))
        assert claimed is not None, "the only verifier present gets the challenge"
        desk.submit_verdict(signed_verdict(verifier, claimed, "pass", now_ms()))


def post(ledger: Ledger, server: nacl.signing.SigningKey, kind: str, record: Any) -> None:
    take_node_record(ledger.engine, kind, sign_record(record, server).to_wire(), bytes(server.verify_key))


def info(key: nacl.signing.SigningKey, throughput: float) -> ServerInfo:
    return ServerInfo(
        ServerAnnouncement(
            server_key=bytes(key.verify_key),
            peer_id="p",
            name="s",
            model_id="tiny",
            block_start=0,
            block_end=SPAN,
            layer_digests=tuple(bytes(32) for _ in range(SPAN)),
            dtype="float32",
            throughput=throughput,
            state="online",
            announced_ms=0,
            expires_ms=10,
        )
    )


def router(book: ReputationBook, seed: int = 0) -> Router:
    return Router(ClientConfig(), LatencyTracker(0.3), BanList(1.0, 60.0), book, random.Random(seed))


def test_a_real_ledgers_answer_keeps_a_server_short_of_bond_in_the_exploration_budget(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    bonded, short = new_key(), new_key()
    needed = required_bond(PRICE, session_block_tokens(SPAN))
    assert needed is not None
    for server, bond in ((bonded, needed), (short, needed - 1)):
        trusted_by_checks(ledger, server)
        mint(ledger.engine, LEDGER_KEY, account=hexkey(server), amount=bond, reason="bond", admin="test")
        post(ledger, server, "bond", BondDeposit(os.urandom(16), bytes(server.verify_key), bond, now_ms()))
        post(ledger, server, "price", PriceQuote(bytes(server.verify_key), "tiny", PRICE, now_ms()))

    with LocalSwarm(tmp_path) as swarm:
        api = swarm.start_api(db_url=db_url)
        book = fetch_reputation(api, "tiny")
        assert book.source == "api"
        for server, bond in ((bonded, needed), (short, needed - 1)):
            trust = book.of(hexkey(server))
            assert (trust.state, trust.bond, trust.price) == ("trusted", bond, PRICE), "the answer carries both"

        slow, fast = info(bonded, throughput=400.0), info(short, throughput=4000.0)
        policy = router(book)
        assert (policy.standing(slow), policy.standing(fast)) == (FULL, SHORT_OF_BOND)
        sessions = 2000
        used = sum(
            hexkey(short) in [h.candidate.key for h in policy.chain([slow, fast], 0, SPAN, explore=policy.explores())]
            for _ in range(sessions)
        )
        assert used <= 0.05 * sessions * 1.3, "a fast server short of bond gets no more than the exploration budget"

        # The bonded server raises its price by one micro-credit: its bond no longer covers a session.
        with LedgerApi(api, bonded) as client:
            raised = PriceQuote(bytes(bonded.verify_key), "tiny", PRICE + 1, now_ms())
            client.request("POST", "/market/price", sign_record(raised, bonded).to_wire(), "application/octet-stream")
        again = fetch_reputation(api, "tiny")
        assert again.of(hexkey(bonded)).price == PRICE + 1
        assert router(again).standing(slow) == SHORT_OF_BOND, "a raised price loses full routing at once"
