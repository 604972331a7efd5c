"""``swarmtrust simulate``: run one scenario (or ``--sweep`` every adversary and malicious fraction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from swarmtrust.simulation.config import ADVERSARIES, SimulationConfig

FRACTIONS = (0.1, 0.3, 0.5, 0.7)


def simulate(
    adversary: Annotated[str, typer.Option(help=f"One of: {', '.join(ADVERSARIES)}.")] = "cheat:1",
    malicious_fraction: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of malicious servers.")] = 0.3,
    servers: Annotated[int, typer.Option(min=4, help="Servers at the start.")] = 60,
    verifiers: Annotated[int, typer.Option(min=3, help="Verifiers.")] = 7,
    requests: Annotated[int, typer.Option(min=1, help="Client sessions to simulate.")] = 6000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same results.")] = 0,
    sweep: Annotated[bool, typer.Option("--sweep", help="Every adversary at 10, 30, 50 and 70% malicious.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    plots: Annotated[Path | None, typer.Option(help="Write PNG plots into this directory.")] = None,
) -> None:
    """Simulate servers, clients and verifiers against adversaries, with the real reputation, sampling,
    consensus and routing code; report quarantines, corrupted outputs and verification overhead."""
    from swarmtrust.simulation.engine import simulate as run

    base = SimulationConfig(
        malicious_fraction=malicious_fraction, servers=servers, verifiers=verifiers, requests=requests, seed=seed
    )
    configs = (
        [
            SimulationConfig(**{**base.__dict__, "adversary": a, "malicious_fraction": f})
            for a in ADVERSARIES
            for f in FRACTIONS
        ]
        if sweep
        else [SimulationConfig(**{**base.__dict__, "adversary": adversary})]
    )
    results: list[dict[str, Any]] = []
    for config in configs:
        result = run(config)
        results.append(result)
        if not as_json:
            typer.echo(summary_line(result))
    if plots is not None:
        from swarmtrust.simulation.plots import write_plots, write_summary_plot

        for result in results:
            write_plots(result, plots)
        if len(results) > 1:
            write_summary_plot(results, plots / "simulation-summary.png")
    if as_json:
        trimmed = [{k: v for k, v in r.items() if k != "series"} for r in results]
        typer.echo(json.dumps(trimmed if sweep else trimmed[0], indent=2))


def summary_line(r: dict[str, Any]) -> str:
    s = r["scenario"]
    return (
        f"{s['adversary']:>18} {s['malicious_fraction']:>4.0%}: false quarantines {r['honest_false_quarantines']}, "
        f"corrupted {r['corrupted_output_share']:.2%}, verification {r['verification_overhead']:.1%} of serving, "
        f"checks to quarantine (median) {r['median_checks_to_quarantine']}, "
        f"caught {r['malicious_quarantined']}/{r['malicious_identities']}"
    )
