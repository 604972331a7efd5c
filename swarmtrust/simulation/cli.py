"""``swarmtrust simulate``: run one scenario (or ``--sweep`` every adversary, malicious fraction and dtype)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from swarmtrust.simulation.config import (
    ADVERSARIES,
    FALSE_POSITIVE_SCOPES,
    FIRST_ASSIGNMENTS,
    SimulationConfig,
)
from swarmtrust.simulation.detection_table import read_table
from swarmtrust.simulation.errors import ScenarioError

FRACTIONS = (0.1, 0.3, 0.5, 0.7)


def simulate(
    adversary: Annotated[str, typer.Option(help=f"One of: {', '.join(ADVERSARIES)}.")] = "cheat:1",
    malicious_fraction: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of malicious servers.")] = 0.3,
    servers: Annotated[int, typer.Option(min=4, help="Servers at the start.")] = 60,
    verifiers: Annotated[int, typer.Option(min=3, help="Verifiers.")] = 7,
    requests: Annotated[int, typer.Option(min=1, help="Client sessions to simulate.")] = 6000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same results.")] = 0,
    dtype: Annotated[
        str, typer.Option(help="The swarm's dtype: one the calibration holds (shipped: float32, bfloat16, float16).")
    ] = "float32",
    corruption: Annotated[
        str,
        typer.Option(
            help="What a cheater does to a step: an adversary the calibration measured (noise:0.001, noise:0.003, "
            "noise:0.01, wrong-weights, int8-weights, fp8-weights, skip-layers)."
        ),
    ] = "noise:0.01",
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Detection rates from this calibration file (`swarmtrust verifier calibrate --out`); default: the "
            "shipped swarmtrust/verifier/tolerances.json."
        ),
    ] = None,
    false_positive_rate: Annotated[
        float | None,
        typer.Option(help="Per honest session checked, the chance a replay fails it (default: measured held out)."),
    ] = None,
    false_positive_scope: Annotated[
        str, typer.Option(help=f"Who sees a false alarm: {' (every replay) or '.join(FALSE_POSITIVE_SCOPES)}.")
    ] = "session",
    first_assignment: Annotated[
        str, typer.Option(help=f"How a challenge's first verifier is picked: {', '.join(FIRST_ASSIGNMENTS)}.")
    ] = "draw",
    sweep: Annotated[
        bool,
        typer.Option("--sweep", help="Every adversary at 10, 30, 50 and 70% malicious, in every calibrated dtype."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    plots: Annotated[Path | None, typer.Option(help="Write PNG plots into this directory.")] = None,
) -> None:
    """Simulate servers, clients and verifiers against adversaries, with the real reputation, sampling,
    consensus and routing code; report quarantines, corrupted outputs and verification overhead."""
    from swarmtrust.simulation.engine import simulate as run

    try:
        table = read_table(calibration)
        base = SimulationConfig(
            adversary=adversary,
            malicious_fraction=malicious_fraction,
            servers=servers,
            verifiers=verifiers,
            requests=requests,
            seed=seed,
            dtype=dtype,
            corruption=corruption,
            false_positive_rate=false_positive_rate,
            false_positive_scope=false_positive_scope,
            first_assignment=first_assignment,
            detection=table,
        )
        # The sweep covers every dtype the calibration holds (each must have measured the corruption).
        configs = (
            [
                replace(base, adversary=a, malicious_fraction=f, dtype=d)
                for d in table.dtypes
                for a in ADVERSARIES
                for f in FRACTIONS
            ]
            if sweep
            else [base]
        )
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc)) from exc
    results: list[dict[str, Any]] = []
    sources: set[str] = set()
    for config in configs:
        result = run(config)
        results.append(result)
        if not as_json:
            source = result["checking"]["source"]
            if source not in sources:  # once per dtype: which file, and the sessions the rates rest on
                sources.add(source)
                typer.echo(f"detection rates: {source}")
            typer.echo(summary_line(result))
    if plots is not None:
        from swarmtrust.simulation.plots import write_plots, write_summary_plot

        for result in results:
            write_plots(result, plots)
        if len(results) > 1:
            for dtype in table.dtypes:
                of_dtype = [r for r in results if r["scenario"]["dtype"] == dtype]
                suffix = "" if dtype == "float32" else f"-{dtype}"
                if of_dtype:
                    write_summary_plot(of_dtype, plots / f"simulation-summary{suffix}.png", f"{dtype}, {corruption}")
    if as_json:
        trimmed = [{k: v for k, v in r.items() if k not in ("series", "malicious_records")} for r in results]
        typer.echo(json.dumps(trimmed if sweep else trimmed[0], indent=2))


def summary_line(r: dict[str, Any]) -> str:
    s = r["scenario"]
    return (
        f"{s['adversary']:>18} {s['malicious_fraction']:>4.0%} {s['dtype']:>8}: "
        f"false quarantines {r['honest_false_quarantines']}, "
        f"corrupted {r['corrupted_output_share']:.2%}, verification {r['verification_overhead']:.1%} of serving, "
        f"checks to quarantine (median) {r['median_checks_to_quarantine']}, "
        f"caught {r['malicious_quarantined']}/{r['malicious_identities']}"
    )
