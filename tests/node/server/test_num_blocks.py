"""``node start --num-blocks``: real servers choose where the swarm is thinnest, so that three of them started
in turn cover every block of tiny, and a server whose place became crowded moves to the empty half."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.swarm import SwarmClient
from tests.node.swarm_helpers import PROMPT, local_reference, tiny, wait_for_line

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


def test_three_servers_with_num_blocks_only_cover_every_block(tmp_path: Path) -> None:
    tiny()
    with LocalSwarm(tmp_path) as swarm:
        swarm.start_dht()
        spans = []
        for name in ("a", "b", "c"):  # in turn: each sees the announcements of those before it
            server = swarm.launch_server(name, "", "--num-blocks", "3", "--rebalance-interval", "0")
            spans.append(tuple(LocalSwarm.ready(server)["blocks"]))
        assert spans == [(0, 3), (3, 6), (5, 8)]
        with SwarmClient([swarm.peer]) as client:
            client.wait_for_blocks("tiny", 8, min_servers=3)
            assert client.generate(tiny(), PROMPT, 4).tokens == local_reference(4).tokens


def test_a_server_moves_when_its_place_becomes_crowded(tmp_path: Path) -> None:
    tiny()
    with LocalSwarm(tmp_path) as swarm:
        swarm.start_dht()
        mover = swarm.launch_server("mover", "", "--num-blocks", "4", "--rebalance-interval", "0.5")
        assert LocalSwarm.ready(mover)["blocks"] == [0, 4], "alone, it takes the first window"
        for name in ("x", "y"):  # two fixed servers crowd blocks 0:4; nobody holds 4:8
            LocalSwarm.ready(swarm.launch_server(name, "0:4"))
        assert "moved from blocks 0:4 to 4:8" in wait_for_line(mover, "moved from blocks")
        with SwarmClient([swarm.peer]) as client:
            client.wait_for_blocks("tiny", 8, min_servers=3)
            assert client.generate(tiny(), PROMPT, 4).tokens == local_reference(4).tokens
