"""``swarmtrust demo``: the whole system on this machine, cheaters included, and a report of what it caught.

On 127.0.0.1, as child processes: a DHT bootstrap; the ledger service (SQLite in the data directory) with
its dashboard; block servers of ``tiny`` covering every block at least twice, some of them cheating (one
corrupting 30% of its steps, one honest at first and then cheating on every step); and verifiers. The
market opens (a faucet, bonds, prices). A client generates text while a server is killed with SIGKILL
midway (failover: the same tokens as the model run in-process). Then clients generate for a while,
routed by the ledger's reputations and paying for every session; spot checks, verifiers, disputes and
quarantine run as they would in a real swarm, shown live. The report says which cheaters were caught,
after how many sessions and seconds, where the traffic went before and after, and what the market moved
and slashed. Last, the ledger's defences: a forged and an equivocating receipt refused, a clean audit, a
tampered copy caught. Every process started is stopped at the end, by PID, unless ``--keep``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from swarmtrust.demo_plan import DemoPlanError, plan_demo

# The turncoat serves half a session's worth of steps (a session is one step per token) honestly, then cheats
# on every step: within its first session, while it still carries traffic. Once the honest server beside it is
# trusted, a newcomer only gets the routing's exploration budget, which shrinks as newcomers fail: with one or
# three sessions honest, the turncoat sometimes waited most of a minute for traffic before it could turn.
TURNCOAT_FRACTION = 0.5


def demo(
    servers: Annotated[int, typer.Option(help="Block servers of `tiny` (4 to 8), over blocks 0:4 and 4:8.")] = 5,
    cheaters: Annotated[
        int, typer.Option(help="How many of them cheat: the 1st corrupts 30% of steps, the 2nd turns after a while.")
    ] = 2,
    verifiers: Annotated[int, typer.Option(help="Verifier nodes (2 to 4).")] = 3,
    duration: Annotated[
        float,
        typer.Option(min=10, max=600, help="Seconds of traffic at most; it ends sooner once every cheater is caught."),
    ] = 90.0,
    max_new_tokens: Annotated[int, typer.Option(min=4, max=200, help="Tokens per generation.")] = 12,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the ledger database, keys and logs go (default: a temporary directory).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep every process running after the report, until Ctrl-C.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON only.")] = False,
) -> None:
    """Run the whole system on this machine, cheaters included, and report what it caught."""
    from swarmtrust.node.cli_options import configure_logging

    try:
        plan = plan_demo(servers, cheaters, verifiers, honest_steps=int(TURNCOAT_FRACTION * max_new_tokens))
    except DemoPlanError as exc:
        raise typer.BadParameter(str(exc)) from None
    if data_dir is not None and (data_dir / "ledger.db").exists():
        raise typer.BadParameter(
            f"{data_dir} holds an earlier demo's ledger and keys, which would skew this run's report; "
            "pass a new or empty directory",
            param_hint="--data-dir",
        )
    configure_logging(verbose=False)
    logging.getLogger("swarmtrust.node").setLevel(logging.ERROR)  # the demo narrates failovers itself
    console = Console(quiet=as_json, highlight=False, width=None if sys.stdout.isatty() else 120)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="swarmtrust-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from swarmtrust.demo_run import run_demo  # the swarm's imports (torch, hivemind): only when the demo runs

    with _terminated_by_signals():
        report = run_demo(plan, workdir, duration, max_new_tokens, keep, console)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    if not demo_succeeded(report):
        raise typer.Exit(1)


def demo_succeeded(report: dict[str, Any]) -> bool:
    """Every cheater quarantined, slashed and left without traffic; no honest server quarantined; an unbond
    refused while the server's sessions could be challenged; and the failover's, the epoch proof's, the
    ledger's, the audit's and the checkpoint's checks held."""
    failover = report["failover"]
    unbond = report.get("unbond") or {}
    cheaters = [s for s in report["servers"].values() if s["public_key"] in report["cheaters"]]
    return (
        set(report["cheaters"]) <= set(report["quarantined"])
        and report["honest_quarantined"] == 0
        and all(s["share_after"] in (None, 0.0) for s in cheaters)
        and (not cheaters or report["credits_slashed"] > 0)
        and (failover is None or failover["tokens_match_local"])
        and report["dashboard_shows_cheaters_quarantined"]
        and report["refused"] == ["bad_signature", "conflict"]
        and report["merkle_proof_ok"]
        and report["audit_clean"]
        and report["tampering_caught"]
        and report.get("rewrite_caught", False)
        and (unbond.get("server") is None or unbond.get("before_window") == "bond_locked")
    )


@contextlib.contextmanager
def _terminated_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does, so that every process it started is stopped."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
