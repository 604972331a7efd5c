"""Each adversary behaviour, served by a real server process: outputs that differ from the local
reference beyond tolerance (so a verifier can catch them) under receipts that still verify; and a
withholding server caught by the client at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.faults import SessionFailedError
from swarmtrust.node.client.swarm import SwarmClient
from tests.node.swarm_helpers import (
    FP32_RELATIVE_TOLERANCE,
    PROMPT,
    local_reference,
    max_relative_error,
    relative_error,
    tiny,
)

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

STEPS = 10
ADVERSARIES = ["noise:0.001", "skip-layers", "wrong-weights", "cheat-rate:0.5", "honest-then-cheat:3", "withhold"]


@dataclass
class Running:
    swarm: LocalSwarm
    keys: dict[str, str]  # public key of each server, by behaviour (and "honest-0", "honest-4")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Honest servers for 0:4 and 4:8, and one server per adversary behaviour for 4:8."""
    tiny()
    with LocalSwarm(tmp_path_factory.mktemp("adversaries")) as swarm:
        swarm.start_dht()
        launched = {
            "honest-0": swarm.launch_server("honest-0", "0:4"),
            "honest-4": swarm.launch_server("honest-4", "4:8"),
        }
        for behavior in ADVERSARIES:
            name = behavior.split(":")[0]
            launched[behavior] = swarm.launch_server(name, "4:8", "--behavior", behavior)
        keys = {name: LocalSwarm.ready(process)["public_key"] for name, process in launched.items()}
        yield Running(swarm, keys)


@pytest.fixture(scope="module")
def client(running: Running) -> Iterator[SwarmClient]:
    with SwarmClient([running.swarm.peer]) as client:
        client.wait_for_blocks("tiny", 8, min_servers=len(running.keys))
        yield client


def only(client: SwarmClient, keys: dict[str, str], *names: str) -> list[Any]:
    wanted = {keys[name] for name in names}
    return [server for server in client.servers("tiny", 8) if server.key in wanted]


@pytest.mark.parametrize("behavior", [b for b in ADVERSARIES if b != "withhold"])
def test_a_cheater_returns_wrong_outputs_under_valid_receipts(
    client: SwarmClient, running: Running, behavior: str
) -> None:
    keys = running.keys
    result = client.generate(tiny(), PROMPT, STEPS, servers=only(client, keys, "honest-0", behavior))
    reference = local_reference(STEPS)
    assert result.faults == [], "every receipt verified: the cheater signed what it returned"
    assert all(hop.receipt is not None for hops in result.steps for hop in hops)
    assert {hops[1].server_key for hops in result.steps} == {keys[behavior]}
    errors = [relative_error(got, want) for got, want in zip(result.final_hidden, reference.final_hidden, strict=False)]
    assert max(errors) > 100 * FP32_RELATIVE_TOLERANCE, f"{behavior} went unnoticed: {errors}"
    if behavior == "honest-then-cheat:3":
        # Step 0 is a prefill (one step for the server), then decode steps: the first three steps are honest.
        assert max(errors[:3]) < FP32_RELATIVE_TOLERANCE and min(errors[3:]) > 100 * FP32_RELATIVE_TOLERANCE


def test_the_honest_pair_matches_the_reference(client: SwarmClient, running: Running) -> None:
    result = client.generate(tiny(), PROMPT, STEPS, servers=only(client, running.keys, "honest-0", "honest-4"))
    assert result.tokens == local_reference(STEPS).tokens
    assert max_relative_error(result.final_hidden, local_reference(STEPS).final_hidden) < FP32_RELATIVE_TOLERANCE


def test_a_withholding_server_is_caught_at_once_and_replaced(client: SwarmClient, running: Running) -> None:
    keys = running.keys
    servers = only(client, keys, "honest-0", "withhold", "honest-4")
    client.latency.observe(keys["honest-4"], 4, 10.0, 0.0)  # pretend honest-4 is slow: route via withhold first
    result = client.generate(tiny(), PROMPT, STEPS, servers=servers)
    assert result.faults[0].server_key == keys["withhold"]
    assert result.faults[0].reason == "missing" and result.faults[0].step == 0
    assert [f.failed_server for f in result.failovers] == [keys["withhold"]]
    assert result.tokens == local_reference(STEPS).tokens


def test_with_only_a_withholding_server_the_session_fails_clearly(client: SwarmClient, running: Running) -> None:
    with pytest.raises(SessionFailedError, match="no usable server covers block 4"):
        client.generate(tiny(), PROMPT, 3, servers=only(client, running.keys, "honest-0", "withhold"))


def test_a_server_that_leaves_cleanly_is_marked_offline_at_once(client: SwarmClient, running: Running) -> None:
    """Runs last in this module: stops the skip-layers server with SIGTERM."""
    key = running.keys["skip-layers"]
    assert key in {server.key for server in client.servers("tiny", 8)}
    leaving = next(p for p in running.swarm.processes if p.name == "skip-layers")
    leaving.stop()
    assert leaving.popen.returncode == 0, leaving.stderr()
    assert key not in {server.key for server in client.servers("tiny", 8)}, "its offline record replaced the online one"
    assert leaving.group() == [], "its DHT process and p2pd ended with it"
