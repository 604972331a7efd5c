"""Mystery shoppers end to end, with real processes on loopback and no ordinary client at all: a DHT, the
ledger service, an honest server and a server that cheats on every step (together the only route through
the model), and three verifiers, one of which probes (``--probe-interval``). The probes alone, each under a
fresh client key, get the cheater caught by consensus; the honest server is never failed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.launcher import TINY_FLOAT32, ChildProcess, LocalSwarm
from tests.node.swarm_helpers import tiny
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

PROBE_INTERVAL = "0.5"  # mean seconds between probe sessions
CAUGHT_TIMEOUT = 180.0  # seconds for the probes to get the cheater a decided failure
PROBES_WANTED = 3  # probes seen before their identities are compared
PROBE_LINE = re.compile(r"probe (\d+) as peer (\w+), client key ([0-9a-f]{64}): (\d+) prompt tokens, (\d+) new tokens")


@dataclass
class Probed:
    swarm: LocalSwarm
    keys: dict[str, str]  # public key of each process, by name
    prober: ChildProcess
    challenges: list[dict[str, Any]]  # every challenge, once the cheater had a decided failure

    def api(self, path: str, **params: Any) -> Any:
        """A GET of the REST API; for a list, every item of every page."""
        return rest_get(self.swarm.api_url, path, **params)


def wait_until_caught(probed: Probed, cheater: str, timeout: float = CAUGHT_TIMEOUT) -> list[dict[str, Any]]:
    """Every challenge, as soon as one about ``cheater`` is decided a failure."""
    deadline = time.monotonic() + timeout
    while True:
        challenges: list[dict[str, Any]] = probed.api("/challenges", limit=1000)
        if any(c["server_key"] == cheater and c["phase"] == "decided" and c["outcome"] == "fail" for c in challenges):
            return challenges
        if time.monotonic() > deadline:
            seen = [(c["server_key"][:8], c["phase"], c["outcome"]) for c in challenges]
            raise AssertionError(
                f"no decided failure of the cheater {cheater[:8]} after {timeout:.0f} s; challenges seen "
                f"(server, phase, outcome): {seen}\nthe prober's log:\n{probed.prober.stderr()}"
            )
        time.sleep(0.5)


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probed]:
    tiny()
    with LocalSwarm(tmp_path_factory.mktemp("probes")) as swarm:
        swarm.start_dht()
        swarm.start_api("--assignment-ttl", "4", "--audit-rate", "1.0", models=TINY_FLOAT32)  # with tolerances
        # The only route through the model's 8 blocks: every probe goes through the cheater.
        servers = {
            "a": swarm.launch_server("a", "0:4"),
            "x": swarm.launch_server("x", "4:8", "--behavior", "cheat-rate:1.0"),
        }
        keys = {name: LocalSwarm.ready(p)["public_key"] for name, p in servers.items()}
        # Two plain verifiers beside the prober, so that a failure can go to a dispute and be decided.
        prober = swarm.launch_verifier(
            "prober", "--initial-peers", swarm.peer, "--probe-interval", PROBE_INTERVAL, "--verbose"
        )
        verifiers = {"prober": prober, "v1": swarm.launch_verifier("v1"), "v2": swarm.launch_verifier("v2")}
        keys |= {name: LocalSwarm.ready(p)["public_key"] for name, p in verifiers.items()}
        probed = Probed(swarm, keys, prober, [])
        probed.challenges = wait_until_caught(probed, keys["x"])
        # Quarantined, the cheater leaves no route through blocks 4:8, and how many probes ran before that depends
        # on the machine's pace: an honest server there keeps the probes running for the tests that count them.
        keys["y"] = LocalSwarm.ready(swarm.launch_server("y", "4:8"))["public_key"]
        yield probed


def test_probes_alone_get_a_cheater_failed_by_consensus(probed: Probed) -> None:
    cheater = probed.keys["x"]
    failed = [c for c in probed.challenges if c["server_key"] == cheater and c["outcome"] == "fail"]
    assert failed
    for challenge in failed:
        detail = probed.api(f"/challenges/{challenge['challenge_id']}")
        votes = [v["outcome"] for v in detail["verdicts"]]
        assert len(votes) >= 3 and votes.count("fail") >= 2, f"a failure is a dispute's decision: {votes}"
    reputation = probed.api(f"/servers/{cheater}/reputation")
    assert reputation["fails"] >= 1, reputation


def test_probes_come_from_fresh_client_keys(probed: Probed) -> None:
    known = set(probed.keys.values())
    submitters = {c["submitter_key"] for c in probed.challenges}
    assert submitters and not submitters & known, "a probe must not be signed by a verifier's or server's key"
    # A fresh key per probe: each key challenges one generation, so each server (one session per hop) once.
    pairs = [(c["submitter_key"], c["server_key"]) for c in probed.challenges]
    assert len(pairs) == len(set(pairs)), "a probe key was used for more than one generation"


def test_the_honest_server_on_the_same_probes_is_never_failed(probed: Probed) -> None:
    honest = [c for c in probed.api("/challenges", limit=1000) if c["server_key"] == probed.keys["a"]]
    assert honest, "the probes went through the honest server too"
    assert all(c["outcome"] in (None, "pass") for c in honest), [(c["phase"], c["outcome"]) for c in honest]
    assert probed.api(f"/servers/{probed.keys['a']}/reputation")["fails"] == 0


def probes_run(probed: Probed, count: int, timeout: float = CAUGHT_TIMEOUT) -> list[tuple[str, str, int, int]]:
    """(peer id, client key, prompt tokens, new tokens) of each probe the prober logged, once ``count`` ran."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m.groups()[1:] for m in PROBE_LINE.finditer(probed.prober.stderr())]
        if len(found) >= count:
            return [(peer, key, int(prompt), int(steps)) for peer, key, prompt, steps in found]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} probes after {timeout:.0f} s:\n{probed.prober.stderr()}")
        time.sleep(0.5)


def test_each_probe_has_its_own_peer_id_and_client_key_and_lengths_of_its_own(probed: Probed) -> None:
    probes = probes_run(probed, PROBES_WANTED)
    peers = [peer for peer, _, _, _ in probes]
    keys = [key for _, key, _, _ in probes]
    assert len(set(peers)) == len(peers), f"a peer id served two probes: {peers}"
    assert len(set(keys)) == len(keys), f"a client key served two probes: {keys}"
    assert not set(keys) & set(probed.keys.values())
    # each probe challenged its sessions under the key it logged (it logs once its challenges are in)
    challenged = {c["submitter_key"] for c in probed.api("/challenges", limit=1000)}
    assert set(keys) <= challenged
    assert len({(prompt, steps) for _, _, prompt, steps in probes}) > 1, "lengths are drawn, not fixed"
