"""``swarmtrust dht``: ``start`` a DHT bootstrap peer for the swarm to meet at; ``report-fork`` a ledger that
signed two histories, for every client to see (``protocol.fork_reports``)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from swarmtrust.node.cli_options import (
    AnnounceMaddrs,
    AutoNat,
    Host,
    InitialPeers,
    NatPortMap,
    Port,
    UsageError,
    UseAutoRelay,
    UseRelay,
    Verbose,
    configure_logging,
    network_options,
    split_peers,
)

dht_app = typer.Typer(
    help="DHT bootstrap peers, and reports of a ledger's forks.", no_args_is_help=True, rich_markup_mode=None
)


@dht_app.command("start")
def dht_start(
    host: Host = "127.0.0.1",
    port: Port = 0,
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    nat_port_map: NatPortMap = None,
    auto_nat: AutoNat = None,
    use_relay: UseRelay = None,
    use_auto_relay: UseAutoRelay = None,
    announce_maddr: AnnounceMaddrs = [],  # noqa: B006 - typer reads the default, never mutates it
    verbose: Verbose = False,
) -> None:
    """Start a DHT bootstrap peer; prints its multiaddrs (one per line), then serves until interrupted."""
    configure_logging(verbose)
    from swarmtrust.node.dht import start_dht

    network = network_options(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay, announce_maddr)
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


Envelope = Annotated[
    str, typer.Argument(help="A ledger-signed checkpoint, hex: the 'record' of GET /api/v1/checkpoints/{number}.")
]


@dht_app.command("report-fork")
def report_fork(
    first: Envelope,
    second: Envelope,
    key: Annotated[
        Path, typer.Option(help="Your key file: it signs the DHT record (the proof is the two checkpoints).")
    ],
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    host: Host = "127.0.0.1",
    port: Port = 0,
    nat_port_map: NatPortMap = None,
    auto_nat: AutoNat = None,
    use_relay: UseRelay = None,
    use_auto_relay: UseAutoRelay = None,
    verbose: Verbose = False,
) -> None:
    """Report two checkpoints with one number signed by one ledger key: every client reading reputations from that
    ledger then stops trusting it. Nothing is stored unless the two prove the fork."""
    configure_logging(verbose)
    try:
        envelopes = bytes.fromhex(first), bytes.fromhex(second)
    except ValueError as exc:
        raise UsageError(f"FIRST and SECOND are checkpoint envelopes in hex ({exc})") from None
    peers = split_peers(initial_peers)
    if not peers:
        raise UsageError("--initial-peers is required: the swarm's DHT to store the report in")
    from swarmtrust.node.client.fork_reports import report_fork as store_report
    from swarmtrust.node.dht import start_dht
    from swarmtrust.protocol.checkpoints import fork_between
    from swarmtrust.protocol.errors import SignatureError, WireFormatError
    from swarmtrust.protocol.keys import load_signing_key

    signing_key = load_signing_key(key)
    try:
        if fork_between(*envelopes) is None:
            raise UsageError(
                "the two checkpoints prove no fork: they are one checkpoint, or of other numbers or ledgers"
            )
    except (WireFormatError, SignatureError) as exc:
        raise UsageError(f"not a ledger-signed checkpoint: {exc}") from None
    dht = start_dht(
        peers, network_options(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay), client_mode=True
    )
    try:
        fork = store_report(dht, signing_key, *envelopes)
    finally:
        dht.shutdown()
    digests = ", ".join(d.hex()[:16] + "…" for d in fork.digests)
    typer.echo(f"reported: ledger {fork.ledger_key.hex()} signed two checkpoints numbered {fork.number} ({digests})")
