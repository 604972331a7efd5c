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
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import nacl.signing
import typer
from rich.console import Console

from node.receipts import Receipt
from node.signing import Signed
from swarmtrust.demo_plan import DemoPlan, DemoPlanError, plan_demo
from swarmtrust.demo_report import build_report, show_report
from swarmtrust.demo_stages import (
    dashboard_shows_quarantined,
    failover_stage,
    ledger_stage,
    open_market,
    settle_now,
    wait_for_decisions,
)
from swarmtrust.demo_traffic import run_traffic, tokenize
from swarmtrust.launcher import TINY_FLOAT32, ChildProcess, LocalSwarm

PROMPT = "Hello, swarm! "
CHALLENGE_WINDOW = 8.0  # seconds a payment waits in escrow for a challenge, shortened for the demo
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
    from node.cli_options import configure_logging

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
    logging.getLogger("node").setLevel(logging.ERROR)  # the demo narrates failovers itself
    console = Console(quiet=as_json, highlight=False, width=None if sys.stdout.isatty() else 120)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="swarmtrust-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with _terminated_by_signals():
        report = run_demo(plan, workdir, duration, max_new_tokens, keep, console)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    if not demo_succeeded(report):
        raise typer.Exit(1)


def demo_succeeded(report: dict[str, Any]) -> bool:
    """Every cheater quarantined, slashed and left without traffic; no honest server quarantined; and the
    failover's, the epoch proof's, the ledger's and the audit's checks held."""
    failover = report["failover"]
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


def run_demo(
    plan: DemoPlan, workdir: Path, duration: float, max_new_tokens: int, keep: bool, console: Console
) -> dict[str, Any]:
    from node.client.config import ClientConfig
    from node.client.swarm import SwarmClient
    from node.model.source import resolve_model

    console.rule("swarmtrust demo: a swarm with cheaters, and the trust layer catching them")
    started = time.monotonic()
    source = resolve_model("tiny")
    client_keys = [nacl.signing.SigningKey.generate() for _ in range(2)]
    with LocalSwarm(workdir) as swarm:
        names, processes = _start(swarm, plan, console)
        open_market(swarm, plan, client_keys, console)
        # Reputations are read afresh for every session, so that a quarantine shows in the routing at once.
        config = ClientConfig(pay=True, reputation_ttl=0.0)
        with SwarmClient([swarm.peer], ledger_url=swarm.api_url, client_key=client_keys[0], config=config) as client:
            client.wait_for_blocks(source.model_id, 8, min_servers=len(plan.servers))
            failover: dict[str, Any] | None = None
            receipts: list[Signed[Receipt]] = []
            if plan.spare_honest() is not None:
                prompt = tokenize(source.directory, PROMPT)
                failover, receipts = failover_stage(
                    client, source, plan, processes, names, prompt, max_new_tokens, console
                )
            killed = {k for k, n in names.items() if failover is not None and n == failover["killed_server"]}
            console.print(f"traffic for up to {duration:.0f} s, routed by reputation; every session paid for")
            traffic = run_traffic(
                client=client,
                source=source,
                plan=plan,
                names=names,
                client_keys=client_keys,
                api_url=swarm.api_url,
                duration=duration,
                max_new_tokens=max_new_tokens,
                avoid=killed,
                console=console,
            )
        traffic_ended = time.monotonic()
        undecided = wait_for_decisions(swarm.api_url, timeout=30)
        time.sleep(max(0.0, traffic_ended + CHALLENGE_WINDOW + 0.5 - time.monotonic()))  # the last payments' window
        settle_now(swarm)
        market = httpx.get(f"{swarm.api_url}/api/v1/market", timeout=30).json()
        report = build_report(plan, names, traffic, market)
        report["undecided_spot_checks"] = undecided
        report["failover"] = failover
        cheater_keys = report["cheaters"]
        report["dashboard_shows_cheaters_quarantined"] = dashboard_shows_quarantined(swarm, cheater_keys)
        report["dashboard_url"] = f"{swarm.api_url}/dashboard"
        report["process_groups"] = [process.pid for process in swarm.processes]
        show_report(report, console)
        if not receipts:  # no failover stage: take a session's receipts for the ledger's checks
            receipts = _receipts_of_one_session(client_keys[0], swarm, source)
        report |= ledger_stage(swarm.api_url, workdir, receipts, console)
        report["data_dir"] = str(workdir)
        report["seconds"] = round(time.monotonic() - started, 1)
        console.print(f"admin dashboard: {report['dashboard_url']} (token in {workdir / 'admin.token'})")
        if keep:
            _wait_for_interrupt(console)
    _save_logs(swarm, workdir)
    console.print(
        f"stopped {len(report['process_groups'])} processes; their logs are in {workdir / 'logs'}; "
        f"{report['seconds']} s in all"
    )
    return report


def _start(swarm: LocalSwarm, plan: DemoPlan, console: Console) -> tuple[dict[str, str], dict[str, ChildProcess]]:
    swarm.start_dht()
    swarm.start_api(
        "--assignment-ttl", "10", "--challenge-window", str(CHALLENGE_WINDOW), "--settle-interval", "2",
        admin_token=secrets.token_urlsafe(24), models=TINY_FLOAT32,
    )  # fmt: skip
    console.print(f"DHT bootstrap at {swarm.peer}; ledger service and dashboard at {swarm.api_url}")
    processes = {s.name: swarm.launch_server(s.name, s.blocks, "--behavior", s.behavior) for s in plan.servers}
    processes |= {name: swarm.launch_verifier(name) for name in plan.verifiers}
    names: dict[str, str] = {}
    for server in plan.servers:
        info = LocalSwarm.ready(processes[server.name])
        names[info["public_key"]] = server.name
        key = info["public_key"]
        console.print(f"server {server.name}: blocks {server.blocks}, {server.behavior}, key {key[:16]}…")
    for name in plan.verifiers:
        names[LocalSwarm.ready(processes[name])["public_key"]] = name
    console.print(f"verifiers {', '.join(plan.verifiers)} ready")
    return names, processes


def _receipts_of_one_session(key: Any, swarm: LocalSwarm, source: Any) -> list[Signed[Receipt]]:
    from node.client.swarm import SwarmClient

    with SwarmClient([swarm.peer], ledger_url=swarm.api_url, client_key=key) as client:
        result = client.generate(source, tokenize(source.directory, PROMPT), 8)
    return [hop.receipt for step in result.steps for hop in step if hop.receipt is not None]


def _wait_for_interrupt(console: Console) -> None:
    console.print("--keep: everything stays up; Ctrl-C (or SIGTERM) stops it")
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def _save_logs(swarm: LocalSwarm, workdir: Path) -> None:
    """Each child's stderr into ``workdir/logs/NAME.log``, once it has stopped."""
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    for process in swarm.processes:
        process.save_log(logs / f"{process.name}.log")
