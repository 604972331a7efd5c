"""Command-line options shared by the swarm roles: peers, networking, logging."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Annotated

import typer

from swarmtrust.node.network import NetworkOptions, check_announce_maddr
from swarmtrust.protocol.errors import SwarmtrustError

InitialPeers = Annotated[
    list[str],
    typer.Option(
        "--initial-peers",
        help="Multiaddr of a peer to join through (repeat the option, or separate several by commas).",
    ),
]
Host = Annotated[str, typer.Option(help="Address to listen on; a loopback address keeps every NAT helper off.")]
Port = Annotated[int, typer.Option(min=0, max=65535, help="TCP port to listen on (0: any free port).")]
NatPortMap = Annotated[
    bool | None,
    typer.Option(
        "--nat-port-map/--no-nat-port-map", help="UPnP/NAT-PMP port mapping (default: off on loopback, on elsewhere)."
    ),
]
AutoNat = Annotated[
    bool | None,
    typer.Option(
        "--auto-nat/--no-auto-nat", help="AutoNAT reachability probes (default: off on loopback, on elsewhere)."
    ),
]
UseRelay = Annotated[
    bool | None,
    typer.Option("--use-relay/--no-use-relay", help="libp2p circuit relays (default: off on loopback, on elsewhere)."),
]
UseAutoRelay = Annotated[
    bool | None, typer.Option("--use-auto-relay/--no-use-auto-relay", help="Find relays automatically (default: off).")
]
AnnounceMaddrs = Annotated[
    list[str],
    typer.Option(
        "--announce-maddr",
        help="Where peers should dial this node, e.g. /ip4/PUBLIC_IP/tcp/PORT behind a port forward or a proxy "
        "(repeatable; default: the addresses it listens on).",
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress on stderr.")]
Device = Annotated[
    str, typer.Option(help="Where the blocks run: auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
]


def split_peers(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def network_options(
    host: str,
    port: int,
    nat_port_map: bool | None,
    auto_nat: bool | None,
    use_relay: bool | None,
    use_auto_relay: bool | None,
    announce_maddrs: Sequence[str] = (),
) -> NetworkOptions:
    """The options, or UsageError naming a bad ``--announce-maddr``."""
    try:
        announced = tuple(check_announce_maddr(m) for m in announce_maddrs)
    except ValueError as exc:
        raise UsageError(f"--announce-maddr {exc}") from None
    return NetworkOptions(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay, announced)


def configure_logging(verbose: bool) -> None:
    """Our logs on stderr (INFO with -v, else WARNING); hivemind's own chatter only with -v."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HIVEMIND_LOGLEVEL", "INFO" if verbose else "WARNING")
    logging.getLogger("hivemind").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise even with -v
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class UsageError(SwarmtrustError):
    """A combination of options that cannot work; the message says which."""
