"""A looser dtype end to end, with real processes on loopback: the ledger registers tiny for float32; a server
of tiny started in bfloat16 with that ledger refuses to start; one started in bfloat16 without it (announced
only in the DHT) is refused by clients, who say why; a client that admits bfloat16 anyway gets a session whose
challenge a real verifier fails for its dtype, before any tolerance could let it through."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from swarmtrust.launcher import TINY_FLOAT32, ChildProcess, LaunchError, LocalSwarm
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.faults import SessionFailedError
from swarmtrust.node.client.swarm import SwarmClient
from tests.node.swarm_helpers import PROMPT, tiny
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

STEPS = 6


@dataclass
class Live:
    swarm: LocalSwarm
    loose_key: str  # the server serving tiny in bfloat16
    verifier: ChildProcess


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tiny()
    with LocalSwarm(tmp_path_factory.mktemp("dtype")) as swarm:
        swarm.start_dht()
        loose = swarm.launch_server("loose", "0:8", "--dtype", "bfloat16")  # before the ledger: DHT only
        swarm.start_api("--assignment-ttl", "30", models=TINY_FLOAT32)
        verifier = swarm.launch_verifier("v", "--verbose")  # logs each verdict's reason
        key = LocalSwarm.ready(loose)["public_key"]
        LocalSwarm.ready(verifier)
        yield Live(swarm, key, verifier)


def test_a_server_refuses_to_start_in_a_dtype_the_registration_does_not_allow(live: Live) -> None:
    refused = live.swarm.launch_server("refused", "0:4", "--dtype", "bfloat16")
    with pytest.raises(LaunchError) as failed:
        LocalSwarm.ready(refused)
    message = str(failed.value)
    assert "model tiny is registered at the ledger for float32, not bfloat16" in message
    assert "--dtype float32" in message


def test_a_client_refuses_the_looser_server_and_says_why(live: Live) -> None:
    with SwarmClient([live.swarm.peer], ledger_url=live.swarm.api_url) as client:
        client.wait_for_blocks("tiny", 8)
        with pytest.raises(SessionFailedError) as refused:
            client.generate(tiny(), PROMPT, STEPS, spot_check_rate=0.0)
    message = str(refused.value)
    assert "1 serve bfloat16" in message and "this model allows float32 (registered at the ledger)" in message


def test_a_client_that_admits_it_gets_a_session_that_a_real_verifier_fails(live: Live) -> None:
    config = ClientConfig(allow_dtypes=("bfloat16",))
    with SwarmClient([live.swarm.peer], ledger_url=live.swarm.api_url, config=config) as client:
        client.wait_for_blocks("tiny", 8)
        result = client.generate(tiny(), PROMPT, STEPS, spot_check_rate=1.0)
    assert [c["server_key"] for c in result.challenges] == [live.loose_key]
    verdict = first_verdict(live.swarm.api_url, live.loose_key)
    assert verdict["outcome"] == "fail"
    assert verdict["steps_checked"] == 0, "failed for its dtype, before any step was compared"
    reason = "fail (served in bfloat16; model tiny is registered for float32)"
    assert wait_for_line(live.verifier, reason), "the verifier logs why (after the ledger took the verdict)"


def first_verdict(api_url: str, server_key: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        verdicts = rest_get(api_url, "/verdicts", server=server_key)
        if verdicts:
            found: dict[str, Any] = verdicts[-1]
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no verdict on {server_key} after {timeout:.0f} s")
        time.sleep(0.5)


def wait_for_line(process: ChildProcess, text: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while text not in process.stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
