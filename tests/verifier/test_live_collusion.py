"""A colluding verifier, live: real processes on loopback (a DHT, the ledger service, an honest server and its
cheating partner, two honest verifiers and a colluder that polls six times as often as they do and passes
everything). The colluder cannot tell which of its passes will be audited, and its partner is convicted
within its first three challenges, on at least 1 + k verdicts.

Why "within three" holds deterministically, not by luck: the colluder is a fresh identity, and a verifier
with fewer than ten agreements has every pass audited (``ledger.consensus.APPRENTICE_AGREEMENTS``); on this
swarm it can earn at most six (one per challenge, six challenges), so each of the partner's challenges
reaches an honest verifier: drawn first, it says fail and a dispute follows; else the colluder's pass is
audited, the auditor says fail and a dispute follows. A dispute draws everyone left, so it holds both honest
verifiers (fail, reliability >= 2/3 each, as they never disagree here) against at most the colluder (pass,
reliability <= 1): the fail outweighs it, on three verdicts.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.launcher import TINY_FLOAT32, LocalSwarm
from swarmtrust.ledger.beacon import audit_coin, coin_epoch, epoch_seed
from swarmtrust.ledger.consensus import conviction_quorum
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.protocol.challenges import Verdict
from swarmtrust.protocol.keys import load_signing_key
from swarmtrust.protocol.signing import verify_record
from tests.builders import new_key
from tests.node.swarm_helpers import PROMPT, tiny
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SESSIONS = 3  # each makes one challenge of the honest server and one of its cheating partner
STEPS = 6
VERIFIERS = ("colluder", "h1", "h2")


@dataclass
class Live:
    swarm: LocalSwarm
    keys: dict[str, str]  # public key of each process, by name

    def api(self, path: str, **params: Any) -> Any:
        return rest_get(self.swarm.api_url, path, **params)

    def db(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.swarm.workdir / "ledger.db")
        connection.row_factory = sqlite3.Row
        return connection


def wait_for(condition: Any, what: str, timeout: float) -> Any:
    """Poll ``condition`` (a real process's state) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)
    return result


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tiny()
    with LocalSwarm(tmp_path_factory.mktemp("collusion")) as swarm:
        swarm.start_dht()
        swarm.start_api("--assignment-ttl", "60", "--initial-peers", swarm.peer, models=TINY_FLOAT32)  # audit: default
        servers = {
            "a": swarm.launch_server("a", "0:4"),
            "x": swarm.launch_server("x", "4:8", "--behavior", "noise:0.01"),
        }
        verifiers = {
            # The later --poll-interval wins over the launcher's 0.3 s: it asks for work six times as often.
            "colluder": swarm.launch_verifier("colluder", "--behavior", "always-pass", "--poll-interval", "0.05"),
            "h1": swarm.launch_verifier("h1"),
            "h2": swarm.launch_verifier("h2"),
        }
        keys = {name: LocalSwarm.ready(p)["public_key"] for name, p in (servers | verifiers).items()}
        live = Live(swarm, keys)

        def all_present() -> bool:
            with live.db() as db:
                present = {row[0] for row in db.execute("SELECT public_key FROM verifier_presence")}
            return present >= {keys[name] for name in VERIFIERS}

        wait_for(all_present, "every verifier asking for work", 120)
        with SwarmClient([swarm.peer], ledger_url=swarm.api_url) as client:
            client.wait_for_blocks("tiny", 8, min_servers=2)
            chain = [s for s in client.servers("tiny", 8) if s.key in (keys["a"], keys["x"])]
            for variant in range(SESSIONS):
                prompt = [*PROMPT[:-1], 50 + variant]
                client.generate(tiny(), prompt, STEPS, servers=chain, spot_check_rate=1.0, client_key=new_key())

        def all_decided() -> list[dict[str, Any]] | None:
            challenges = live.api("/challenges", limit=1000)
            done = len(challenges) == 2 * SESSIONS and all(c["phase"] == "decided" for c in challenges)
            return challenges if done else None

        wait_for(all_decided, "every challenge decided", 400)
        yield live


def partner_outcomes(live: Live) -> list[str]:
    challenges = sorted(live.api("/challenges", server=live.keys["x"], limit=1000), key=lambda c: c["seq"])
    return [c["outcome"] for c in challenges]


def test_the_partner_is_convicted_within_three_challenges_on_a_full_quorum(live: Live) -> None:
    outcomes = partner_outcomes(live)
    assert len(outcomes) == SESSIONS
    assert "fail" in outcomes[:3], outcomes
    reputation = live.api(f"/servers/{live.keys['x']}/reputation")
    assert reputation["state"] == "quarantined" and reputation["fails"] >= 1
    needed = conviction_quorum(2)
    disputes = live.api("/disputes")
    convictions = [d for d in disputes if d["outcome"] == "fail"]
    assert convictions and all(d["verdicts"] >= needed and d["verdicts_needed"] == needed for d in convictions)
    honest = [c["outcome"] for c in live.api("/challenges", server=live.keys["a"], limit=1000)]
    assert honest == ["pass"] * SESSIONS, "the honest server is never convicted"


def test_the_colluder_cannot_know_which_of_its_passes_are_audited(live: Live) -> None:
    ledger_key = load_signing_key(live.swarm.workdir / "ledger.key")
    other_key = new_key()
    with live.db() as db:
        draws = db.execute(
            "SELECT d.*, a.assigned_ms, a.event_seq AS assigned_seq, e.payload, e.signature, s.committed_seq, s.seed"
            " FROM audit_draws d JOIN assignments a USING (assignment_id)"
            " JOIN verdicts v USING (assignment_id) JOIN events e ON e.seq = v.event_seq"
            " JOIN audit_seeds s ON s.epoch = d.epoch"
        ).fetchall()
    assert len(draws) >= SESSIONS, "every first pass had its coin drawn"
    for draw in draws:
        verdict = verify_record(Verdict, bytes(draw["payload"]), bytes(draw["signature"]))
        epoch = coin_epoch(draw["assigned_ms"])
        assert draw["epoch"] == epoch
        # Everything the verifier held when it answered is public now, except the seed: still unrevealed, and
        # committed before the verifier had its assignment.
        assert draw["seed"] is None and draw["committed_seq"] < draw["assigned_seq"]
        secret = audit_coin(epoch_seed(bytes(ledger_key), epoch), verdict.digest)
        assert draw["coin"] == secret, "the coin is the one the ledger's secret gives"
        assert draw["coin"] != audit_coin(epoch_seed(bytes(other_key), epoch), verdict.digest)
        old = hashlib.blake2b(bytes.fromhex(draw["assignment_id"]) + b"audit", digest_size=8).digest()
        assert draw["coin"] != int.from_bytes(old, "little") / 2**64, (
            "the old predictor, from the assignment id the verifier holds, is gone"
        )
    colluder = [d for d in draws if d["verifier_key"] == live.keys["colluder"]]
    assert all(d["follow"] == "audit" and d["chance"] == 1.0 for d in colluder), "an apprentice is always audited"


def test_the_ledger_audits_clean_with_its_coins_awaiting_their_reveal(live: Live) -> None:
    with Ledger.open(f"sqlite:///{live.swarm.workdir / 'ledger.db'}") as ledger:
        report = ledger.audit()
    assert report.ok, report.problems[:5]
    with live.db() as db:
        draws = db.execute("SELECT COUNT(*) FROM audit_draws").fetchone()[0]
    assert (report.coins_checked, report.coins_awaiting_reveal) == (0, draws)
    # The audit re-ran every draw, round and outcome under the rules the ledger logged at its first write.
    assert {"consensus_policy", "seed_commitment", "audit_draw", "verdict", "round", "outcome"} <= set(report.kinds)
    assert report.kinds["consensus_policy"] == 1
