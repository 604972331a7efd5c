"""``swarmtrust node ...``: signing keys, and ``node start`` to serve blocks of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmtrust.node.cli_options import (
    AnnounceMaddrs,
    AutoNat,
    Device,
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
from swarmtrust.protocol.keys import generate_key_file, load_signing_key, public_key_hex

app = typer.Typer(
    help="Block servers: signing keys, and serving spans of a model.", no_args_is_help=True, rich_markup_mode=None
)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the key file (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key file; its key is lost.")] = False,
) -> None:
    """Create an Ed25519 signing key; prints the public key that names this node."""
    key = generate_key_file(out, force=force)
    typer.echo(f"wrote {out} (mode 0600)")
    typer.echo(f"public key: {public_key_hex(key)}")


@app.command()
def pubkey(key: Annotated[Path, typer.Option("--key", help="A key file made by `node keygen`.")]) -> None:
    """Print the hex public key of a key file."""
    typer.echo(public_key_hex(load_signing_key(key)))


def parse_blocks(text: str) -> tuple[int, int]:
    try:
        start_text, end_text = text.split(":")
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not START:END (e.g. 0:4)") from None
    if not 0 <= start < end:
        raise typer.BadParameter(f"{text!r}: need 0 <= START < END")
    return start, end


@app.command("start")
def node_start(
    key: Annotated[Path, typer.Option(help="Signing key file (`swarmtrust node keygen`).")],
    initial_peers: InitialPeers,
    blocks: Annotated[
        str | None, typer.Option(help="Blocks to serve, START:END (END exclusive), e.g. 0:4; or --num-blocks.")
    ] = None,
    num_blocks: Annotated[
        int | None,
        typer.Option(min=1, help="Serve this many blocks where the swarm is thinnest (by throughput and trust)."),
    ] = None,
    throughput: Annotated[
        float | None, typer.Option(min=0.0, help="Tokens/s to announce (default: measured at start-up).")
    ] = None,
    rebalance_interval: Annotated[
        float,
        typer.Option(min=0.0, help="With --num-blocks: seconds between looks for a clearly thinner place (0: never)."),
    ] = 120.0,
    model: Annotated[str, typer.Option(help="'tiny' or a local Hugging Face model directory.")] = "tiny",
    dtype: Annotated[
        str,
        typer.Option(help="Compute dtype: float32, bfloat16 or float16 (one the model's ledger registration allows)."),
    ] = "float32",
    behavior: Annotated[
        str, typer.Option(help="honest, or an adversary for tests and the demo (see docs).")
    ] = "honest",
    name: Annotated[str | None, typer.Option(help="Display name in announcements.")] = None,
    ledger: Annotated[
        str | None, typer.Option(help="Ledger service URL: announce this server there too (its directory).")
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Largest batch a request may carry.")] = 8,
    max_session_tokens: Annotated[int, typer.Option(min=1, help="Most tokens one session may hold.")] = 2048,
    batch_sessions: Annotated[
        int,
        typer.Option(
            min=1,
            help="Most sessions whose one-token steps share a forward pass (1: each alone, bit for bit as a "
            "stepwise replay; what verifiers with --exact-replay need).",
        ),
    ] = 16,
    torch_threads: Annotated[int | None, typer.Option(min=1, help="torch intra-op threads.")] = None,
    device: Device = "auto",
    no_receipts: Annotated[bool, typer.Option("--no-receipts", hidden=True)] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the server remembers the sessions it opened (default: the key's directory)."),
    ] = None,
    status_interval: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds between status lines on stderr: sessions, steps, and with --ledger spot checks, trust "
            "and earnings (0: none).",
        ),
    ] = 60.0,
    host: Host = "127.0.0.1",
    port: Port = 0,
    nat_port_map: NatPortMap = None,
    auto_nat: AutoNat = None,
    use_relay: UseRelay = None,
    use_auto_relay: UseAutoRelay = None,
    announce_maddr: AnnounceMaddrs = [],  # noqa: B006 - typer reads the default, never mutates it
    verbose: Verbose = False,
) -> None:
    """Serve blocks of a model, signing a receipt for every step. Prints one JSON line when ready."""
    configure_logging(verbose)
    from swarmtrust.node.behaviors import parse_behavior
    from swarmtrust.node.device import resolve_device
    from swarmtrust.node.server.app import run_server
    from swarmtrust.node.server.config import ServerConfig, ServerLimits
    from swarmtrust.node.tensors import TORCH_DTYPES as dtypes

    if dtype not in dtypes:
        raise typer.BadParameter(f"--dtype {dtype!r}: use one of {', '.join(dtypes)}")
    peers = split_peers(initial_peers)
    if not peers:
        raise UsageError(
            "--initial-peers is required: start a bootstrap with `swarmtrust dht start` and pass its address"
        )
    if (blocks is None) == (num_blocks is None):
        raise UsageError("give exactly one of --blocks START:END or --num-blocks N")
    start, end = parse_blocks(blocks) if blocks is not None else (0, num_blocks or 1)
    config = ServerConfig(
        key_path=key,
        model=model,
        block_start=start,
        block_end=end,
        initial_peers=peers,
        network=network_options(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay, announce_maddr),
        dtype=dtypes[dtype],
        device=resolve_device(device),
        behavior=parse_behavior(behavior),
        limits=ServerLimits(max_batch=max_batch, max_session_tokens=max_session_tokens, batch_sessions=batch_sessions),
        name=name,
        receipts=not no_receipts,
        torch_threads=torch_threads,
        ledger_url=ledger,
        data_dir=data_dir,
        status_period=status_interval,
        num_blocks=num_blocks,
        rebalance_period=rebalance_interval,
        throughput=throughput,
    )
    run_server(config, ready=lambda line: typer.echo(line))
