"""Root of the ``swarmtrust`` command line: assembles each role's commands."""

from __future__ import annotations

import typer

from swarmtrust.api.cli import app as api_app
from swarmtrust.demo import demo
from swarmtrust.ledger.cli import app as ledger_app
from swarmtrust.node.cli import app as node_app
from swarmtrust.node.cli_dht import dht_app
from swarmtrust.node.cli_generate import generate
from swarmtrust.node.cli_market import market_app
from swarmtrust.node.console import run_app
from swarmtrust.simulation.cli import simulate
from swarmtrust.verifier.cli import app as verifier_app

app = typer.Typer(
    name="swarmtrust",
    help="The trust layer for decentralised LLM inference: receipts, verifiers, reputation, credits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help wraps at any width; rich panels cut long option names at 80 columns
)
app.add_typer(node_app, name="node")
app.add_typer(ledger_app, name="ledger")

app.add_typer(dht_app, name="dht")

app.add_typer(verifier_app, name="verifier")

app.add_typer(api_app, name="api")

app.add_typer(market_app, name="market")

app.command(help="Generate text through the swarm (or --local), checking every receipt.")(generate)
app.command(help="Adversary simulation with the real reputation, consensus and routing code.")(simulate)
app.command(help="Run the whole system on this machine, cheaters included, and report what it caught.")(demo)


def main() -> None:
    run_app(app, "swarmtrust")
