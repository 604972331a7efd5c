"""The demo's final report: built as plain data (the ``--json`` output), then shown as tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from swarmtrust.demo_plan import DemoPlan
from swarmtrust.demo_traffic import Traffic
from swarmtrust.protocol.market_records import MICRO


def build_report(plan: DemoPlan, names: dict[str, str], traffic: Traffic, market: dict[str, Any]) -> dict[str, Any]:
    """Who cheated and who was quarantined (public keys in hex), after how much traffic, and each server's
    share of the sessions before the first cheater's quarantine and after the last one's."""
    keys = {name: key for key, name in names.items()}
    tally, view = traffic.tally, traffic.view
    cheaters = [keys[s.name] for s in plan.cheaters]
    quarantined = sorted(k for k, entry in view.reputation.items() if entry["state"] == "quarantined")
    shares = tally.shares([keys[s.name] for s in plan.servers], cheaters)
    servers: dict[str, Any] = {}
    for server in plan.servers:
        key = keys[server.name]
        entry = view.reputation.get(key, {})
        caught = tally.quarantined.get(key)
        before, after = shares[key]
        servers[server.name] = {
            "public_key": key,
            "blocks": server.blocks,
            "behavior": server.behavior,
            "sessions": tally.by_server[key],
            "steps": tally.steps[key],
            "share_before": before,
            "share_after": after,
            "state": entry.get("state"),
            "trust": entry.get("trust"),
            "passes": entry.get("passes", 0),
            "fails": entry.get("fails", 0),
            "quarantined_after": None
            if caught is None
            else {"seconds": round(caught.seconds, 2), "sessions": caught.sessions, "steps": caught.steps},
        }
    return {
        "cheaters": cheaters,
        "quarantined": quarantined,
        "honest_quarantined": sum(1 for k in quarantined if k not in cheaters),
        "credits_slashed": market["slashed"],  # micro-credits, like every amount of the market
        "servers": servers,
        "traffic": {
            "sessions": tally.sessions,
            "seconds": round(traffic.seconds, 1),
            "spot_checks": view.challenges,
            "decided": view.decided,
            "verdicts": view.verdicts,
            "disputes": view.disputes,
        },
        "market": market,
    }


def show_report(report: dict[str, Any], console: Console) -> None:
    console.print()
    console.rule("report")
    servers = report["servers"]
    table = Table(title="servers: traffic before the first quarantine and after the last", title_justify="left")
    for column in ("server", "blocks", "behavior", "sessions", "share before", "share after", "trust", "state"):
        table.add_column(column, justify="left" if column in {"server", "blocks", "behavior", "state"} else "right")
    for name, s in servers.items():
        table.add_row(
            name,
            s["blocks"],
            s["behavior"],
            str(s["sessions"]),
            _percent(s["share_before"]),
            _percent(s["share_after"]),
            "—" if s["trust"] is None else f"{s['trust']:.2f}",
            s["state"] or "—",
        )
    console.print(table)
    for name, s in servers.items():
        if s["behavior"] == "honest":
            continue
        caught = s["quarantined_after"]
        if caught is None:
            console.print(f"cheater {name} ({s['behavior']}): [red]NOT caught[/] after {s['sessions']} sessions")
        else:
            console.print(
                f"cheater {name} ({s['behavior']}): caught and quarantined after {caught['sessions']} sessions "
                f"({caught['steps']} steps) through it, {caught['seconds']:.1f} s into the traffic"
            )
    honest = report["honest_quarantined"]
    console.print(f"honest servers quarantined: {honest}" + ("" if honest == 0 else " [red](a false alarm)[/]"))
    traffic = report["traffic"]
    console.print(
        f"traffic: {traffic['sessions']} sessions in {traffic['seconds']} s; {traffic['spot_checks']} spot checks, "
        f"{traffic['verdicts']} verdicts, {traffic['disputes']} disputes"
    )
    m = report["market"]
    console.print(
        f"credits: {_credits(m['paid'])} paid into escrow, {_credits(m['released'])} released to servers, "
        f"{_credits(m['refunded'])} refunded to clients, {_credits(m['slashed'])} slashed from bonds "
        f"({_credits(m['bounties'])} of it as bounties to the verifiers who caught them), "
        f"{_credits(m['verifier_fees'])} in verifier fees; {_credits(m['in_escrow'])} still in escrow"
    )


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


def _credits(micro: int) -> str:
    return f"{micro / MICRO:,.2f}"
