"""Spot checks end to end with real processes on loopback: a DHT, the ledger service, three servers (one
cheating on half its steps), verifiers (two honest, one that always says fail, one that always says
pass) and a verifier that stalls mid-check and is then killed; clients challenge every session. Then
reputation at work: the caught cheater is quarantined and routed around, by clients reading the REST
API and by clients that can only read the ledger's signed snapshot in the DHT."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import TINY_FLOAT32, LocalSwarm
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.evidence import build_challenge, challenge_of
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.evidence import Evidence
from tests.builders import new_key
from tests.node.swarm_helpers import PROMPT, tiny
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SESSIONS = 4  # through each pair of servers
STEPS = 12


@dataclass
class Live:
    swarm: LocalSwarm
    keys: dict[str, str]  # public key of each process, by name
    client: SwarmClient
    stalled_challenge: str

    def api(self, path: str, **params: Any) -> Any:
        """A GET of the REST API; for a list, every item of every page."""
        return rest_get(self.swarm.api_url, path, **params)


def generate(
    live_client: SwarmClient, names: tuple[str, str], keys: dict[str, str], variant: int
) -> list[dict[str, Any]]:
    wanted = {keys[n] for n in names}
    servers = [s for s in live_client.servers("tiny", 8) if s.key in wanted]
    prompt = [*PROMPT[:-1], 40 + variant]
    return live_client.generate(tiny(), prompt, STEPS, servers=servers, spot_check_rate=1.0).challenges


def wait_until_decided(live: Live, timeout: float = 180.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        challenges = live.api("/challenges", limit=1000)
        if challenges and all(c["phase"] == "decided" for c in challenges):
            return challenges
        if time.monotonic() > deadline:
            pending = [(c["challenge_id"], c["phase"]) for c in challenges if c["phase"] != "decided"]
            raise AssertionError(f"undecided after {timeout:.0f} s: {pending}")
        time.sleep(1.0)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tiny()
    with LocalSwarm(tmp_path_factory.mktemp("live")) as swarm:
        swarm.start_dht()
        # Every pass is re-checked by a second verifier, so that the always-pass verifier cannot wave a
        # cheating session through on its own.
        swarm.start_api(
            "--assignment-ttl", "4", "--initial-peers", swarm.peer, "--snapshot-interval", "2", "--audit-rate", "1.0",
            models=TINY_FLOAT32,
        )  # fmt: skip
        servers = {
            "a": swarm.launch_server("a", "0:4"),
            "b": swarm.launch_server("b", "4:8"),
            "x": swarm.launch_server("x", "4:8", "--behavior", "cheat-rate:0.5"),
        }
        stall = swarm.launch_verifier("stall", "--behavior", "stall")
        keys = {name: LocalSwarm.ready(p)["public_key"] for name, p in servers.items()}
        keys["stall"] = LocalSwarm.ready(stall)["public_key"]
        with SwarmClient([swarm.peer], ledger_url=swarm.api_url) as client:
            client.wait_for_blocks("tiny", 8, min_servers=3)
            # The only verifier so far claims the first challenge and never answers; then it is killed.
            first = generate(client, ("a", "b"), keys, 0)[0]["challenge_id"]
            deadline = time.monotonic() + 60
            while "stalling on assignment" not in stall.stderr() and time.monotonic() < deadline:
                time.sleep(0.2)
            stall.kill_hard()
            verifiers = {
                "h1": swarm.launch_verifier("h1"),
                "h2": swarm.launch_verifier("h2"),
                "always-fail": swarm.launch_verifier("always-fail", "--behavior", "always-fail"),
                "always-pass": swarm.launch_verifier("always-pass", "--behavior", "always-pass"),
            }
            keys |= {name: LocalSwarm.ready(p)["public_key"] for name, p in verifiers.items()}
            for variant in range(1, SESSIONS + 1):
                generate(client, ("a", "b"), keys, variant)
                generate(client, ("a", "x"), keys, variant)
            yield Live(swarm, keys, client, first)


def outcomes(challenges: list[dict[str, Any]], key: str) -> list[str]:
    return [c["outcome"] for c in challenges if c["server_key"] == key]


def test_the_cheater_is_caught_by_consensus_and_honest_servers_only_pass(live: Live) -> None:
    challenges = wait_until_decided(live)
    keys = live.keys
    assert outcomes(challenges, keys["a"]) and set(outcomes(challenges, keys["a"])) == {"pass"}
    assert outcomes(challenges, keys["b"]) and set(outcomes(challenges, keys["b"])) == {"pass"}
    cheater = outcomes(challenges, keys["x"])
    assert len(cheater) == SESSIONS
    assert cheater.count("fail") >= 2, f"the cheater's outcomes: {cheater}"
    for challenge in challenges:
        if challenge["outcome"] == "fail":
            detail = live.api(f"/challenges/{challenge['challenge_id']}")
            assert len(detail["verdicts"]) >= 3, "a failure is decided by a dispute, never one verifier's word"


def test_a_verifier_that_always_says_fail_frames_nobody(live: Live) -> None:
    wait_until_decided(live)
    verifiers = {v["public_key"]: v for v in live.api("/verifiers")}
    liar = verifiers[live.keys["always-fail"]]
    honest = [verifiers[live.keys[name]] for name in ("h1", "h2")]
    assert liar["verdicts"] > 0
    if liar["disagreements"]:
        assert liar["reliability"] < min(v["reliability"] for v in honest)
    disputes = live.api("/disputes")
    framed = [d for d in disputes if d["server_key"] in (live.keys["a"], live.keys["b"]) and d["outcome"] != "pass"]
    assert framed == []


def test_a_verifier_that_always_says_pass_hides_nobody(live: Live) -> None:
    challenges = wait_until_decided(live)
    fail_verdicts = live.api("/verdicts", server=live.keys["x"])
    assert any(v["outcome"] == "fail" for v in fail_verdicts)
    assert "fail" in outcomes(challenges, live.keys["x"])


def test_a_verifier_killed_mid_check_loses_nothing(live: Live) -> None:
    wait_until_decided(live)
    detail = live.api(f"/challenges/{live.stalled_challenge}")
    assert detail["phase"] == "decided" and detail["outcome"] == "pass"
    states = {a["verifier_key"]: a["state"] for a in detail["assignments"]}
    assert states[live.keys["stall"]] == "replaced"
    assert len(detail["verdicts"]) >= 1 and all(v["verifier_key"] != live.keys["stall"] for v in detail["verdicts"])


def test_forged_evidence_is_refused_and_blamed_on_its_submitter(live: Live) -> None:
    keys = live.keys
    wanted = {keys["a"], keys["b"]}
    servers = [s for s in live.client.servers("tiny", 8) if s.key in wanted]
    result = live.client.generate(tiny(), PROMPT, 6, servers=servers, spot_check_rate=1.0, client_key=new_key())
    kept = result.kept_evidence[0]
    framing = replace(kept, outputs={step: bytes(len(o)) for step, o in kept.outputs.items()})  # zeros, not what it got
    framer = new_key()
    challenge, encoded = build_challenge(framer, framing)
    Evidence.decode(encoded)
    with LedgerApi(live.swarm.api_url, framer) as api, pytest.raises(LedgerApiError) as refused:
        api.submit_challenge(challenge.to_wire(), encoded)
    assert refused.value.status == 422 and refused.value.code == "forged_evidence"
    with sqlite3.connect(live.swarm.workdir / "ledger.db") as db:
        blamed = db.execute(
            "SELECT rejected_evidence FROM submitters WHERE public_key = ?", (bytes(framer.verify_key).hex(),)
        ).fetchone()
        accused = db.execute(
            "SELECT COUNT(*) FROM challenges WHERE challenge_id = ?", (challenge.record.challenge_id.hex(),)
        ).fetchone()
    assert blamed == (1,) and accused == (0,)


def test_evidence_without_the_prompt_step_is_refused_and_the_honest_server_stays_trusted(live: Live) -> None:
    """The framing attack of a client that keeps a genuine session of an honest server and challenges it
    without its first step: the replay would lack the prompt's KV cache and every later step would look
    wrong. The ledger refuses it (blamed on the submitter); the same session from its start, cut anywhere,
    is admitted and passes."""
    keys = live.keys
    servers = [s for s in live.client.servers("tiny", 8) if s.key in {keys["a"], keys["b"]}]
    result = live.client.generate(tiny(), [*PROMPT[:-1], 77], 6, servers=servers, spot_check_rate=1.0)
    kept = next(k for k in result.kept_evidence if k.server_key == keys["a"])
    framer = new_key()
    steps = range(1, len(kept.receipts))
    truncated = Evidence(
        tuple(kept.receipts[i].to_wire() for i in steps),
        tuple(kept.inputs[i] for i in steps),
        tuple(kept.outputs.get(i) for i in steps),
    ).encode()
    with LedgerApi(live.swarm.api_url, framer) as api:
        with pytest.raises(LedgerApiError) as refused:
            api.submit_challenge(challenge_of(framer, kept.receipts[1:], truncated).to_wire(), truncated)
        assert refused.value.status == 422 and "not_from_start" in str(refused.value)
        prefix = Evidence(
            tuple(r.to_wire() for r in kept.receipts[:3]), tuple(kept.inputs[:3]), (kept.outputs[0], None, None)
        ).encode()
        admitted = api.submit_challenge(challenge_of(framer, kept.receipts[:3], prefix).to_wire(), prefix)
    assert admitted["status"] == "accepted"
    challenges = wait_until_decided(live)
    assert set(outcomes(challenges, keys["a"])) == {"pass"}
    reputation = live.api(f"/servers/{keys['a']}/reputation")
    assert reputation["state"] != "quarantined" and reputation["fails"] == 0


def test_the_ledger_of_all_this_audits_clean(live: Live) -> None:
    wait_until_decided(live)
    from swarmtrust.ledger.store import Ledger

    with Ledger.open(f"sqlite:///{live.swarm.workdir / 'ledger.db'}") as ledger:
        report = ledger.audit()
    assert report.ok, report.problems[:5]
    assert {"challenge", "assignment", "verdict", "outcome", "round", "receipt"} <= set(report.kinds)


def test_after_its_confirmed_failure_the_cheater_carries_no_traffic(live: Live) -> None:
    wait_until_decided(live)
    keys = live.keys
    cheater = live.api(f"/servers/{keys['x']}/reputation")
    assert cheater["state"] == "quarantined" and cheater["trust"] == 0.0 and cheater["fails"] >= 1
    for name in ("a", "b"):
        honest = live.api(f"/servers/{keys[name]}/reputation")
        assert honest["state"] != "quarantined" and honest["fails"] == 0 and 0 < honest["trust"] < 1
    book = live.api("/reputation", model="tiny")
    assert set(book["servers"]) == {keys["a"], keys["b"], keys["x"]} and book["newcomer"]["state"] == "newcomer"
    with SwarmClient([live.swarm.peer], ledger_url=live.swarm.api_url, config=ClientConfig(reputation_ttl=0)) as client:
        carried = served_by(client, keys, sessions=6)
    assert carried.get("x", 0) == 0, carried
    assert carried["a"] == 6 and carried["b"] == 6


def test_routing_survives_an_unreachable_api_through_the_signed_dht_snapshot(live: Live) -> None:
    wait_until_decided(live)
    ledger_key = bytes.fromhex(httpx.get(f"{live.swarm.api_url}/health", timeout=10).json()["ledger_key"])
    config = ClientConfig(reputation_ttl=0)
    with SwarmClient(
        [live.swarm.peer], ledger_url="http://127.0.0.1:9", ledger_key=ledger_key, config=config
    ) as client:
        deadline = time.monotonic() + 60
        while (book := client.reputation("tiny")).source != "dht" or book.of(live.keys["x"]).state != "quarantined":
            assert time.monotonic() < deadline, f"no snapshot in the DHT: {book.source}"
            time.sleep(1)
        carried = served_by(client, live.keys, sessions=4)
    assert carried.get("x", 0) == 0 and carried["b"] == 4
    with SwarmClient([live.swarm.peer], ledger_url="http://127.0.0.1:9", ledger_key=bytes(32), config=config) as other:
        assert other.reputation("tiny").source == "none", "a snapshot is believed only under the pinned ledger key"


def served_by(client: SwarmClient, keys: dict[str, str], sessions: int) -> dict[str, int]:
    names = {key: name for name, key in keys.items()}
    carried: dict[str, int] = {}
    for variant in range(sessions):
        result = client.generate(tiny(), [*PROMPT[:-1], 90 + variant], 4, spot_check_rate=0.0)
        for name in {names[hop.server_key] for hops in result.steps for hop in hops}:
            carried[name] = carried.get(name, 0) + 1
    return carried
