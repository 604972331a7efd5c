"""The performance table that opens docs/BENCHMARKS.md, as the Petals paper describes its swarm: one row per
setting (in-process, loopback chains, limited networks, concurrent clients), each with the trust layer on and
off, and the verifiers' load beside it.

It measures nothing itself: it reads what ``loopback-chain``, ``limited-networks``, ``concurrent-clients`` and
``verification-load`` kept (``bench.report.save_results``), so it is rewritten whenever one of them runs.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.plots import bar_chart
from bench.report import Section, cost_range, load_results, table

INPUTS = ("loopback-chain", "limited-networks", "concurrent-clients", "verification-load")
HEADER = [
    "setting",
    "servers",
    "network",
    "clients",
    "decode steps/s, trust on",
    "trust off",
    "trust's cost",
    "its range over rounds",
    "prefill tokens/s, trust on / off",
]


class MissingResultsError(RuntimeError):
    """A benchmark the table draws on has not run on this checkout."""


def _inputs() -> dict[str, dict[str, Any]]:
    found = {name: load_results(name) for name in INPUTS}
    missing = [name for name, results in found.items() if results is None]
    if missing:
        raise MissingResultsError(
            f"the performance table needs {', '.join(missing)}: run `python -m bench.run {' '.join(missing)}`"
        )
    return {name: results["figures"] for name, results in found.items() if results is not None}


def _cost(figures: dict[str, Any], on: float, off: float) -> str:
    """The trust layer's cost: the median of its rounds' own costs (older results kept none: the medians')."""
    costs = figures.get("cost_rounds")
    return f"{statistics.median(costs) if costs else 1 - on / off:+.1%}"


def _spread(figures: dict[str, Any]) -> str:
    """The range of the trust layer's cost over a row's rounds (older results kept none: a dash)."""
    costs = figures.get("cost_rounds")
    return cost_range(costs) if costs else "—"


def rows_of(figures: dict[str, dict[str, Any]]) -> tuple[list[list[str]], dict[str, tuple[float, float]]]:
    """The table's rows, and each row's decode steps/s (trust on, off) for the plot."""
    loopback, limited, concurrent = (figures[n] for n in INPUTS[:3])
    rows: list[list[str]] = []
    bars: dict[str, tuple[float, float]] = {}
    local = loopback["local"]
    rows.append(["in-process (`generate --local`), `tiny`", "—", "—", "1", f"{local['decode']:,.0f}", "—", "—", "—",
                 f"{local['prefill']:,.0f}"])  # fmt: skip
    bars["local"] = (local["decode"], local["decode"])  # no trust layer in-process: one figure
    for length in (2, 4):
        on, off = loopback[f"{length}-on"], loopback[f"{length}-off"]
        rows.append(["loopback chain, `tiny`", str(length), "loopback", "1", f"{on['decode']:,.0f}",
                     f"{off['decode']:,.0f}", _cost(on, on["decode"], off["decode"]), _spread(on),
                     f"{on['prefill']:,.0f} / {off['prefill']:,.0f}"])  # fmt: skip
        bars[f"{length} servers"] = (on["decode"], off["decode"])
    for key in ("a", "b", "c"):
        network = limited[key]
        label = network["label"].split(" ", 1)[1]
        rows.append([f"limited network {key}, `tiny`", "2", label, "1", f"{network['on']:,.1f}",
                     f"{network['off']:,.1f}", _cost(network, network["on"], network["off"]), _spread(network),
                     f"— (physical limit {network['limit']:,.1f} steps/s)"])  # fmt: skip
        bars[f"net {key}"] = (network["on"], network["off"])
    for count in (1, 4, 8):
        on, off = concurrent[f"{count}-on"], concurrent[f"{count}-off"]
        each = f" (median client {on['median']:,.0f}, slowest {on['slowest']:,.0f})" if count > 1 else ""
        rows.append(["concurrent clients, hidden 256", "2", "loopback", str(count), f"{on['total']:,.0f}{each}",
                     f"{off['total']:,.0f}", _cost(on, on["total"], off["total"]), _spread(on), "—"])  # fmt: skip
        bars[f"{count} client{'s' if count > 1 else ''}"] = (on["total"], off["total"])
    return rows, bars


def run() -> Section:
    figures = _inputs()
    rows, bars = rows_of(figures)
    load = figures["verification-load"]
    verifying = "; ".join(
        f"{label}, {load[model]['1']['share']:.0%} of the servers' compute when every session is checked (a "
        f"newcomer's rate) and {load[model]['0.05']['share']:.1%} at a trusted server's floor of 0.05"
        for model, label in (("tiny", "`tiny`"), ("hidden-256", "hidden 256"))
    )
    markdown = "\n\n".join(
        [
            "## Performance (issue 21)",
            "How fast the swarm serves, with the trust layer on (receipts signed and checked, reputations from the "
            "ledger, sessions spot checked) and off (no receipts), measured in the same runs. Decode steps/s are "
            "one client's tokens per second after its prompt (with several clients: the swarm's total, and each "
            "client's); prefill is a 128-token prompt's first step, session opening included. `tiny` is 8 Llama "
            "blocks of hidden size 64, split over the servers; the concurrent row's model has hidden size 256; "
            "float32 on CPU, one torch thread per process, every process on one 2-core machine (so rows with more "
            "processes also share cores). Each round runs the trust layer on and off back to back, in alternating "
            "order; a row's rates are medians over its rounds, its cost is the median of the rounds' own costs (a "
            "round's rate with the trust layer on against the same round's with it off, so the machine's drift "
            "between rounds cancels), and its range is the least and the most of those: how far this machine's "
            "noise moves it. Each row's own section below says how it was measured.",
            table(HEADER, rows),
            f"Verification load (`verification-load`): {verifying}. Plot: loopback chains of 2 and 4 servers, "
            "the three shaped networks, and 1, 4 and 8 clients (their total); `local` has no trust layer.",
            bar_chart(
                "performance",
                "Decode steps per second, trust on and off (log scale)",
                list(bars),
                {"trust on": [on for on, _ in bars.values()], "trust off": [off for _, off in bars.values()]},
                ylabel="decode steps per second",
                log_scale=True,
            ),
        ]
    )
    return Section("performance", markdown, (), opens=True)
