"""PNG figures of a simulation run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plots(result: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    scenario = result["scenario"]
    dtype = scenario.get("dtype", "float32")
    title = f"{scenario['adversary']}, {scenario['malicious_fraction']:.0%} malicious, {dtype}"
    series = result["series"]
    written = []
    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    x = [100 * (i + 1) for i in range(len(series["corrupted"]))]
    axes[0].plot(x, series["corrupted"], color="tab:red")
    axes[0].set_ylabel("corrupted share\n(per 100 requests)")
    axes[0].set_title(title)
    axes[1].plot(x, series["malicious_share"], color="tab:purple")
    axes[1].set_ylabel("hops on malicious\nservers")
    axes[1].set_xlabel("requests")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    suffix = "" if dtype == "float32" else f"-{dtype}"
    name = f"simulation-{scenario['adversary'].replace(':', '-')}-{int(100 * scenario['malicious_fraction'])}"
    path = directory / f"{name}{suffix}.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    written.append(path)
    return written


def write_summary_plot(results: list[dict[str, Any]], path: Path, title: str | None = None) -> Path:
    """Corrupted-output share per adversary and malicious fraction (one bar group per adversary)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adversaries = sorted(
        {r["scenario"]["adversary"] for r in results},
        key=lambda a: [r["scenario"]["adversary"] for r in results].index(a),
    )
    fractions = sorted({r["scenario"]["malicious_fraction"] for r in results})
    width = 0.8 / len(fractions)
    figure, axis = plt.subplots(figsize=(10, 4))
    for index, fraction in enumerate(fractions):
        values = [
            next(
                (
                    r["corrupted_output_share"]
                    for r in results
                    if r["scenario"] == r["scenario"] | {"adversary": a, "malicious_fraction": fraction}
                ),
                0.0,
            )
            for a in adversaries
        ]
        axis.bar([i + index * width for i in range(len(adversaries))], values, width, label=f"{fraction:.0%} malicious")
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(adversaries))], adversaries, rotation=20)
    axis.set_ylabel("corrupted-output share")
    if title is not None:
        axis.set_title(title)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
