"""``swarmtrust dht start``: a DHT bootstrap peer for the swarm to meet at."""

from __future__ import annotations

import signal
import threading

import typer

from swarmtrust.node.cli_options import (
    AutoNat,
    Host,
    InitialPeers,
    NatPortMap,
    Port,
    UseAutoRelay,
    UseRelay,
    Verbose,
    configure_logging,
    network_options,
    split_peers,
)

dht_app = typer.Typer(help="DHT bootstrap peers.", no_args_is_help=True, rich_markup_mode=None)


@dht_app.command("start")
def dht_start(
    host: Host = "127.0.0.1",
    port: Port = 0,
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    nat_port_map: NatPortMap = None,
    auto_nat: AutoNat = None,
    use_relay: UseRelay = None,
    use_auto_relay: UseAutoRelay = None,
    verbose: Verbose = False,
) -> None:
    """Start a DHT bootstrap peer; prints its multiaddrs (one per line), then serves until interrupted."""
    configure_logging(verbose)
    from swarmtrust.node.dht import start_dht

    network = network_options(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay)
    dht = start_dht(split_peers(initial_peers), network)
    try:
        for maddr in dht.get_visible_maddrs():
            typer.echo(str(maddr))
        _wait_for_termination()
    finally:
        dht.shutdown()


def _wait_for_termination() -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
