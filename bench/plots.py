"""PNG plots for docs/BENCHMARKS.md: one small chart per benchmark, written next to the report's other images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.report import BENCHMARKS_MD

IMAGES = BENCHMARKS_MD.parent / "img"


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    ylabel: str,
    target: float | None = None,
    log_scale: bool = False,
) -> str:
    """Grouped bars (one group per label, one bar per series), an optional target line; the Markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(1, len(series))
    figure, axis = plt.subplots(figsize=(8, 3.6))
    for index, (legend, values) in enumerate(series.items()):
        positions = [i + index * width for i in range(len(labels))]
        bars = axis.bar(positions, values, width, label=legend)
        axis.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, fontsize=8)
    if target is not None:
        axis.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {_short(target)}")
    if log_scale:
        axis.set_yscale("log")
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    if len(series) > 1 or target is not None:
        axis.legend(fontsize=8)
    return _save(figure, plt, name, title)


def line_chart(
    name: str,
    title: str,
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    xlabel: str,
    ylabel: str,
    target: float | None = None,
    log_x: bool = False,
    log_y: bool = False,
) -> str:
    """One line per series over ``x`` (None: no point), an optional target line; the Markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.6))
    for legend, values in series.items():
        points = [(a, b) for a, b in zip(x, values, strict=True) if b is not None]
        axis.plot([a for a, _ in points], [b for _, b in points], marker="o", label=legend)
    if target is not None:
        axis.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {_short(target)}")
    if log_x:
        axis.set_xscale("log")
    if log_y:
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _save(figure, plt, name, title)


def _save(figure: object, plt: object, name: str, title: str) -> str:
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    figure.tight_layout()  # type: ignore[attr-defined]
    figure.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[attr-defined]
    return f"![{title}]({Path(path).relative_to(BENCHMARKS_MD.parent).as_posix()})"


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"
