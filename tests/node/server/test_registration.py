"""A block server started with ``--ledger`` announces itself to the ledger service: real processes (a DHT, the
ledger service, a server) on loopback. It shows up in the ledger's directory online with what it serves,
and a clean stop marks it offline there."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


def wait_for(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not seen within {timeout} s")


def test_a_server_announces_itself_to_the_ledger_and_leaves_cleanly(tmp_path: Path) -> None:
    with LocalSwarm(tmp_path) as swarm:
        swarm.start_dht()
        api = swarm.start_api()
        server = swarm.launch_server("gpu-box-7", "2:6")  # with --ledger: the launcher passes the service's URL
        key = LocalSwarm.ready(server)["public_key"]

        def entry() -> dict[str, Any] | None:
            answer = httpx.get(f"{api}/api/v1/servers/{key}", timeout=10)
            return answer.json() if answer.status_code == 200 else None

        listed = wait_for(entry)
        assert (listed["name"], listed["model_id"], listed["block_start"], listed["block_end"]) == (
            "gpu-box-7", "tiny", 2, 6,
        )  # fmt: skip
        assert (
            listed["online"] and listed["announced_state"] == "online" and listed["reputation"]["state"] == "newcomer"
        )
        announced = httpx.get(f"{api}/api/v1/events", params={"kind": "announcement", "subject": key}).json()
        assert len(announced["items"]) == 1 and announced["items"][0]["signer"] == key, "signed by the server itself"

        server.stop()
        left = wait_for(lambda: (e := entry()) is not None and not e["online"] and e)
        assert left["announced_state"] == "offline"
