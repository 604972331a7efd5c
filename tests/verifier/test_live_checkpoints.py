"""Checkpoints with real processes: a ledger service proposing them, three verifier processes recomputing and
co-signing them over HTTP, and a client reading reputations from the DHT snapshot. Then an operator rewrites the
history under a final checkpoint and restarts the service: the verifiers refuse its next checkpoint. It signs new
checkpoints over the rewritten history and marks them final by hand: clients that read the genuine one refuse
them (over REST and from the DHT, and so does a server weighing placement by the ledger's trust, after a
restart), one that never read it refuses them on their missing co-signatures or on a fork reported in the DHT, a
returning verifier names the equivocation, and ``ledger audit --checkpoints`` names it too.

The verifiers' weight is earned before they start: challenges decided in the ledger's database by their own keys
(as the verifier processes would have), so that the test does not wait for real spot checks to accumulate."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from swarmtrust.launcher import LocalSwarm, free_port
from swarmtrust.ledger.checkpoints import propose_checkpoint
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.market import mint
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.client.checkpoint_memory import CheckpointMemory, LedgerHistoryError
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.reputation import fetch_reputation
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.node.server.placement import LedgerView
from swarmtrust.protocol.keys import generate_key_file, load_signing_key
from swarmtrust.protocol.merkle import InclusionProof, verify_inclusion
from tests.ledger.tampering import rewrite_mints
from tests.rest import rest_get
from tests.verifier.earned_weight import earn_weight

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # a service and three verifier processes

VERIFIERS = ("v1", "v2", "v3")


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 180.0) -> Any:
    """Poll ``condition`` until it returns something true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.3)
    return found


def test_verifiers_co_sign_checkpoints_and_refuse_a_rewritten_history(db_url: str, tmp_path: Path) -> None:
    """On SQLite and on PostgreSQL (``db_url``)."""
    for name in ("ledger", *VERIFIERS):
        generate_key_file(tmp_path / f"{name}.key")
    ledger_key = load_signing_key(tmp_path / "ledger.key")
    account = earn_weight(db_url, ledger_key, [load_signing_key(tmp_path / f"{name}.key") for name in VERIFIERS])
    port = free_port()
    with LocalSwarm(tmp_path) as swarm, contextlib.ExitStack() as stack:
        peer = swarm.start_dht()
        serve = ("--checkpoint-interval", "1", "--port", str(port), "--initial-peers", peer, "--snapshot-interval", "1")
        url = swarm.start_api(*serve, db_url=db_url)
        # a client that reads reputations from the DHT snapshot alone, pinning the ledger's key
        pinned = bytes(ledger_key.verify_key)
        reader = stack.enter_context(SwarmClient([peer], ledger_key=pinned, config=ClientConfig(reputation_ttl=0)))
        verifiers = [swarm.launch_verifier(name, "--cosign-interval", "0.5") for name in VERIFIERS]
        for process in verifiers:
            LocalSwarm.ready(process)

        def settled() -> dict[str, Any] | None:
            """The latest checkpoint, once it is final and covers the head (no event is left to checkpoint)."""
            answer, head = rest_get(url, "/checkpoints"), httpx.get(f"{url}/health", timeout=30).json()["head_seq"]
            latest, final = answer["latest"], answer["latest_final"]
            at_head = latest is not None and final is not None and latest["number"] == final["number"]
            return final if at_head and final["seq"] == head else None

        first = wait_for("a checkpoint co-signed past 2/3 of the weight, at the head", settled)
        assert first["signed_weight"] * 3 > first["total_weight"] * 2 and len(first["signers"]) >= 2
        proof = rest_get(url, f"/proofs/accounts/{account}", number=first["number"])
        leaf, path = bytes.fromhex(proof["leaf"]), tuple(bytes.fromhex(h) for h in proof["path"])
        held = InclusionProof(proof["index"], proof["tree_size"], path)
        assert verify_inclusion(leaf, held, bytes.fromhex(first["state_root"])), "the balance is under the root"
        assert b"balance" in leaf and bytes.fromhex(account) not in leaf

        genuine = (first["number"], bytes.fromhex(first["digest"]))
        wait_for("the DHT snapshot names the final checkpoint", lambda: reader.reputation("tiny").checkpoint == genuine)
        assert reader.reputation("tiny").source == "dht"

        memory = CheckpointMemory()  # a client, reading reputations while the ledger is honest
        book = fetch_reputation(url, "tiny")
        assert book.checkpoint is not None and book.checkpoint[0] == first["number"]
        with LedgerApi(url) as api:
            memory.admit(pinned, *book.checkpoint, book.source, api.finality_proof, pinned)
        server_view = LedgerView.open(url, tmp_path / "server.key.seen-checkpoints.json")  # a --num-blocks server's
        assert server_view.reputations("tiny") is not None

        # v3 leaves, remembering the last checkpoint it accepted
        remembered = tmp_path / "v3.key.checkpoints.json"
        wait_for(
            "v3 remembers the final checkpoint",
            lambda: remembered.exists() and json.loads(remembered.read_text())["latest"] == first["record"],
        )
        verifiers.pop().stop()

        # the operator: stop the service, rewrite history under the final checkpoint, restart, carry on
        [process for process in swarm.processes if process.name == "api"][-1].stop()
        engine = create_ledger_engine(db_url)
        rewrite_mints(engine, ledger_key)
        engine.dispose()
        with Ledger.open(db_url) as ledger:
            mint(ledger.engine, ledger_key, account="treasury", amount=1, reason="after", admin="t")
        swarm.start_api(*serve, db_url=db_url)

        def refused() -> bool:
            return all("refusing to co-sign" in v.stderr() for v in verifiers)

        wait_for("every verifier refuses the next checkpoint", refused)
        latest = rest_get(url, "/checkpoints")["latest"]
        assert latest["number"] > first["number"] and not latest["final"] and latest["signers"] == []
        assert rest_get(url, "/checkpoints")["latest_final"]["number"] == first["number"]

        # the operator goes further: new checkpoints over the rewritten history, marked final by hand
        seqs = [rest_get(url, f"/checkpoints/{n}")["seq"] for n in range(1, first["number"] + 1)]
        [process for process in swarm.processes if process.name == "api"][-1].stop()
        with Ledger.open(db_url) as ledger, ledger.engine.begin() as connection:
            connection.execute(text("DELETE FROM checkpoint_signatures"))
            connection.execute(text("DELETE FROM checkpoints"))
        with Ledger.open(db_url) as ledger:
            for seq in seqs:  # the same numbers at the same places, over the rewritten events
                propose_checkpoint(ledger.engine, ledger_key, upto=seq)
            with ledger.engine.begin() as connection:
                connection.execute(text("UPDATE checkpoints SET final = true"))
        swarm.start_api(*serve, db_url=db_url)
        forged = fetch_reputation(url, "tiny")
        assert forged.checkpoint is not None and forged.checkpoint[0] == first["number"]
        with pytest.raises(LedgerHistoryError, match=f"two different checkpoints numbered {first['number']}"):
            memory.admit(pinned, *forged.checkpoint, forged.source, lambda n: None, pinned)
        restarted = LedgerView.open(url, tmp_path / "server.key.seen-checkpoints.json")  # the server, restarted
        assert restarted.reputations("tiny") is None, "a server believed the rewritten ledger's trust"
        assert "two different checkpoints" in restarted.memory.distrusted[url.encode()]
        # a client that never saw the genuine history refuses it too: the verifiers did not sign the rewrite
        with LedgerApi(url) as api, pytest.raises(LedgerHistoryError, match="named as final what is not"):
            CheckpointMemory().admit(pinned, *forged.checkpoint, forged.source, api.finality_proof, pinned)

        def distrusted() -> bool:
            return reader.reputation("tiny").source == "none" and pinned in reader.checkpoints.distrusted

        wait_for("the DHT reader refuses the forged snapshot and distrusts the ledger", distrusted)
        assert "two different checkpoints" in reader.checkpoints.distrusted[pinned]
        fork = reader.checkpoints.fork(pinned)  # it holds both checkpoints, and reported them in the DHT
        assert fork is not None and fork.number == first["number"]
        # and one that never saw it either, reading the DHT: the reader's fork report reaches it
        newcomer = stack.enter_context(SwarmClient([peer], ledger_key=pinned, config=ClientConfig(reputation_ttl=0)))

        def refused_by_newcomer() -> bool:
            return newcomer.reputation("tiny").source == "none" and pinned in newcomer.checkpoints.distrusted

        wait_for("a new DHT reader refuses the ledger on the reported fork", refused_by_newcomer)
        reason = newcomer.checkpoints.distrusted[pinned]
        assert f"signed two checkpoints numbered {first['number']} (reported by" in reason, reason

        # v3 comes back, folds the rewritten log from its start, and meets another checkpoint under the number it
        # remembers: it names the equivocation and refuses, and so does v1 after a restart, from its memory
        verifiers[0].stop()  # v1, which refused before
        back = [swarm.launch_verifier(name, "--cosign-interval", "0.5") for name in ("v3", "v1")]
        wait_for("the returning verifier names the equivocation", lambda: "equivocated" in back[0].stderr())
        wait_for("a restarted verifier keeps refusing", lambda: "refusing to co-sign" in back[1].stderr())
        assert rest_get(url, "/checkpoints")["latest"]["signers"] == []

    audit = subprocess.run(
        [sys.executable, "-m", "swarmtrust", "ledger", "audit", "--checkpoints", "--json", "--db", db_url],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert audit.returncode == 1, audit.stderr
    problems = json.loads(audit.stdout)["checkpoints"]["problems"]
    assert any(f"checkpoint {first['number']} (seq" in p and "marked final, but" in p for p in problems), problems
