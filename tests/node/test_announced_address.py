"""A server started with ``--announce-maddr`` is dialled there: behind the benchmarks' shaping proxy, a client's
whole generation crosses the proxy and still matches the local model. A malformed announce address is refused
before anything starts. Real processes: a DHT, two servers (one behind the proxy) and the client, on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.shaping_proxy import shaped
from swarmtrust.launcher import LocalSwarm, free_port
from swarmtrust.node.cli_options import UsageError, network_options
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.network import NetworkOptions
from tests.node.swarm_helpers import PROMPT, local_reference, tiny

pytestmark = pytest.mark.processes
STEPS = 6


def test_a_server_behind_a_proxy_is_dialled_through_it(tmp_path: Path) -> None:
    tiny()
    port = free_port()
    with LocalSwarm(tmp_path) as swarm, shaped(("127.0.0.1", port), delay=0.002, rate=None) as proxy:
        swarm.start_dht()
        announced = f"/ip4/127.0.0.1/tcp/{proxy.address[1]}"
        behind = swarm.launch_server("behind", "4:8", "--port", str(port), "--announce-maddr", announced)
        front = swarm.launch_server("front", "0:4")
        LocalSwarm.ready(behind)
        LocalSwarm.ready(front)
        with SwarmClient([swarm.peer]) as client:
            client.wait_for_blocks("tiny", 8, min_servers=2)
            before = proxy.lateness.chunks
            result = client.generate(tiny(), PROMPT, STEPS)
    assert result.tokens == local_reference(STEPS).tokens
    assert proxy.lateness.chunks - before >= STEPS, "the generation's steps did not cross the proxy"


@pytest.mark.parametrize(
    ("maddr", "said"),
    [("127.0.0.1:4000", "is not /ip4/ADDRESS/tcp/PORT"), ("/ip4/1.2.3.4/tcp/0", "explicit TCP port")],
)
def test_a_malformed_announce_address_is_refused(maddr: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        network_options("0.0.0.0", 0, None, None, None, None, [maddr])
    kwargs = NetworkOptions(announce_maddrs=("/ip4/1.2.3.4/tcp/31337",)).dht_kwargs()
    assert kwargs["announce_maddrs"] == ["/ip4/1.2.3.4/tcp/31337"]
    assert "announce_maddrs" not in NetworkOptions().dht_kwargs()
