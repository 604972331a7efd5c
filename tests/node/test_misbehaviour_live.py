"""Signed misbehaviour end to end with real processes on loopback: a server that equivocates (it signs a
second receipt for a step and chains the next one to it) is caught by the client's receipt check, the client
sends the two receipts to the ledger service as a proof, and the server is convicted and quarantined at
once, without any verifier. Honest servers serve on (a client's fresh sessions after a failed one) and are
never convicted; ``swarmtrust ledger audit`` re-derives everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.faults import SessionFailedError
from swarmtrust.node.client.swarm import SwarmClient
from tests.node.swarm_helpers import PROMPT, local_reference, tiny
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


def test_an_equivocating_server_is_convicted_on_a_clients_proof(tmp_path: Path) -> None:
    tiny()  # build the model once before the servers race to
    with LocalSwarm(tmp_path) as swarm:
        swarm.start_dht()
        api = swarm.start_api()
        launched = {
            "e": swarm.launch_server("e", "0:4", "--behavior", "equivocate"),
            "b": swarm.launch_server("b", "4:8"),
            "c": swarm.launch_server("c", "0:4"),
        }
        keys = {name: LocalSwarm.ready(process)["public_key"] for name, process in launched.items()}
        with SwarmClient([swarm.peer], ledger_url=api) as client:
            client.wait_for_blocks("tiny", 8, min_servers=3)

            def through(*names: str) -> list[object]:
                return [s for s in client.servers("tiny", 8) if s.key in {keys[n] for n in names}]

            # Only e serves blocks 0:4 here: its broken chain at step 1 ends the session (no replacement) ...
            with pytest.raises(SessionFailedError):
                client.generate(tiny(), PROMPT, 4, servers=through("e", "b"), spot_check_rate=0.0)  # type: ignore[arg-type]
            # ... and an honest chain serves the same client on, in sessions of its own
            result = client.generate(tiny(), PROMPT, 4, servers=through("c", "b"), spot_check_rate=0.0)  # type: ignore[arg-type]
            reporter = bytes(client.client_key.verify_key).hex()

        assert result.tokens == local_reference(4).tokens and result.faults == []
        (conviction,) = rest_get(api, "/misbehaviour")
        assert (conviction["server_key"], conviction["kind"], conviction["step"]) == (keys["e"], "broken_chain", 1)
        assert conviction["reporter_key"] == reporter
        assert rest_get(api, f"/servers/{keys['e']}/reputation")["state"] == "quarantined"
        for honest in ("b", "c"):
            assert rest_get(api, "/misbehaviour", server=keys[honest]) == []
        audit = subprocess.run(
            [sys.executable, "-m", "swarmtrust", "ledger", "audit", "--db", f"sqlite:///{tmp_path / 'ledger.db'}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
