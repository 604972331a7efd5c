"""Running the demo: start the swarm, drive the traffic, and gather the report (``swarmtrust demo``)."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import nacl.signing
from rich.console import Console

from swarmtrust.demo_plan import DemoPlan
from swarmtrust.demo_report import build_report, show_report
from swarmtrust.demo_stages import (
    checkpoint_stage,
    dashboard_shows_quarantined,
    earning_server,
    failover_stage,
    ledger_stage,
    open_market,
    settle_now,
    unbond_attempt,
    wait_for_decisions,
)
from swarmtrust.demo_traffic import run_traffic, tokenize
from swarmtrust.launcher import TINY_FLOAT32, ChildProcess, LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed

PROMPT = "Hello, swarm! "
CHALLENGE_WINDOW = 8.0  # seconds a payment waits in escrow for a challenge, shortened for the demo


def run_demo(
    plan: DemoPlan, workdir: Path, duration: float, max_new_tokens: int, keep: bool, console: Console
) -> dict[str, Any]:
    from swarmtrust.node.client.config import ClientConfig
    from swarmtrust.node.client.swarm import SwarmClient
    from swarmtrust.node.model.source import resolve_model

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
        operator = earning_server(swarm, plan, names)
        unbond = {"server": operator, "before_window": unbond_attempt(swarm, operator) if operator else None}
        undecided = wait_for_decisions(swarm.api_url, timeout=30)
        time.sleep(max(0.0, traffic_ended + CHALLENGE_WINDOW + 0.5 - time.monotonic()))  # the last payments' window
        settle_now(swarm)
        if operator is not None:
            unbond["after_window"] = unbond_attempt(swarm, operator)
            console.print(
                f"\nunbond: {operator}'s `swarmtrust market unbond 1` while its sessions could be challenged: "
                f"{unbond['before_window']}; once their window passed and escrow settled: {unbond['after_window']}"
            )
        with LedgerApi(swarm.api_url) as api:
            market = api.get("/market")
        report = build_report(plan, names, traffic, market)
        report["undecided_spot_checks"] = undecided
        report["unbond"] = unbond
        report["failover"] = failover
        cheater_keys = report["cheaters"]
        report["dashboard_shows_cheaters_quarantined"] = dashboard_shows_quarantined(swarm, cheater_keys)
        report["dashboard_url"] = f"{swarm.api_url}/dashboard"
        report["process_groups"] = [process.pid for process in swarm.processes]
        show_report(report, console)
        if not receipts:  # no failover stage: take a session's receipts for the ledger's checks
            receipts = _receipts_of_one_session(client_keys[0], swarm, source)
        report |= ledger_stage(swarm.api_url, workdir, receipts, console)
        report |= checkpoint_stage(workdir, swarm.api_url, console)
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
    processes |= {name: swarm.launch_verifier(name, "--cosign-interval", "1") for name in plan.verifiers}
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
    from swarmtrust.node.client.swarm import SwarmClient

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
