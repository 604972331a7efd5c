"""``swarmtrust node ...``: signing keys, and ``node start`` to serve blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli_swarm import node_start
from protocol.keys import generate_key_file, load_signing_key, public_key_hex

app = typer.Typer(help="Block servers: signing keys, and serving spans of a model.", no_args_is_help=True)


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


app.command("start")(node_start)
