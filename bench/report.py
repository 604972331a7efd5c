"""Writing benchmark results: each benchmark owns one marked section of docs/BENCHMARKS.md, and its rows of the
summary at the top (every target, what was measured, met or not). Benchmarks whose figures feed the report's
opening table (``bench.performance``) also keep them as JSON under ``bench/results``, so that a benchmark run alone
updates its rows of that table."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
RESULTS = Path(__file__).resolve().parent / "results"

T = TypeVar("T")

_HEADER = """# Benchmarks

Measured by `make bench` (`python -m bench.run`); each section below is rewritten by its benchmark.
Machines here are shared and noisy, so every figure is a median of repeated runs, and where a target is a
ratio its baseline is measured in the same run (a few targets are absolute: ingest rate, routing time, latency).
"""


@dataclass(frozen=True)
class Target:
    """One target of a benchmark and how this run did against it."""

    what: str
    measured: str
    target: str
    met: bool


@dataclass(frozen=True)
class Section:
    name: str  # marker id, e.g. "ledger-ingest"
    markdown: str
    targets: tuple[Target, ...] = ()
    opens: bool = False  # the report's opening section: placed before the summary


SUMMARY = "summary"
_SUMMARY_HEADER = ["benchmark", "target", "measured", "aimed for", "met"]


def machine_summary() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = "uncommitted"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = _git("rev-parse", "--short", "HEAD")
        # Code changed since that commit (the figures this writes under docs/ do not count) is said so.
        if _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs"):
            commit += " plus uncommitted changes"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def save_results(name: str, figures: Mapping[str, Any]) -> None:
    """Keep a benchmark's headline figures (``bench/results/NAME.json``) for the report's opening table."""
    RESULTS.mkdir(exist_ok=True)
    document = {"machine": machine_summary(), "figures": figures}
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def load_results(name: str) -> dict[str, Any] | None:
    """What ``save_results`` kept for ``name``, or None when that benchmark has not run here yet."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def round_costs(on: Sequence[float], off: Sequence[float]) -> list[float]:
    """The trust layer's cost in each round, from that round's rates with it on and off (interleaved rounds pair
    up, so the machine's drift between rounds cancels out of each)."""
    if len(on) != len(off):
        raise ValueError(f"{len(on)} rounds with the trust layer on against {len(off)} with it off")
    return [1 - with_trust / without for with_trust, without in zip(on, off, strict=True)]


def paired_cost(on: Sequence[float], off: Sequence[float]) -> float:
    """The trust layer's cost over interleaved rounds: the median of the rounds' own costs (``round_costs``).

    A ratio of the two medians would set one round's rate with the trust layer on against another round's with
    it off; on a shared machine whose load drifts between rounds, the pairs within a round are what compare."""
    return statistics.median(round_costs(on, off))


def in_turn(round_index: int, keys: Sequence[T]) -> list[T]:
    """The order a round runs its configurations in: as given in even rounds, reversed in odd ones, so that none
    always runs first (just after another's warm caches, or its leftover work)."""
    return list(keys) if round_index % 2 == 0 else list(reversed(keys))


def cost_range(costs: Sequence[float]) -> str:
    """The least and the most of the rounds' costs, e.g. ``+1.2% to +9.8%``."""
    return f"{min(costs):+.1%} to {max(costs):+.1%}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_sections(sections: Sequence[Section], path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) each section between its markers, leaving the others as they were."""
    text = path.read_text() if path.exists() else _HEADER
    for section in sections:
        text = _replace_block(text, section.name, section.markdown, first=section.opens)
    text = _replace_block(text, SUMMARY, summary_markdown(_summary_rows(text), sections), first=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def summary_markdown(kept: dict[str, list[list[str]]], sections: Sequence[Section]) -> str:
    """The summary table: the rows of the benchmarks just run, and the kept rows of the others, in report order."""
    rows = dict(kept)
    for section in sections:
        rows[section.name] = [
            [f"`{section.name}`", t.what, t.measured, t.target, "yes" if t.met else "**no**"] for t in section.targets
        ]
    body = [row for name in rows for row in rows[name]]
    return "\n\n".join(
        [
            "## Summary",
            "Every target of the benchmarks below, from the latest run of each (a benchmark run alone rewrites its "
            "own rows only).",
            table(_SUMMARY_HEADER, body),
        ]
    )


def _summary_rows(text: str) -> dict[str, list[list[str]]]:
    """The summary's current rows by benchmark name, from the existing report."""
    block = _block(text, SUMMARY)
    rows: dict[str, list[list[str]]] = {}
    for line in (block or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(_SUMMARY_HEADER) and cells[0].startswith("`"):
            rows.setdefault(cells[0].strip("`"), []).append(cells)
    return rows


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"<!-- bench:{name} -->") + r".*?" + re.escape(f"<!-- /bench:{name} -->"), re.S)


def _block(text: str, name: str) -> str | None:
    match = _pattern(name).search(text)
    return match.group(0) if match else None


def _replace_block(text: str, name: str, markdown: str, *, first: bool = False) -> str:
    """Replace the marked section ``name``; a new one goes at the end, or (``first``) after the header."""
    block = f"<!-- bench:{name} -->\n{markdown.strip()}\n<!-- /bench:{name} -->"
    match = _pattern(name).search(text)
    if match:
        return text[: match.start()] + block + text[match.end() :]
    if first:
        head, marker, rest = text.partition("<!-- bench:")
        return f"{head.rstrip()}\n\n{block}\n\n{marker}{rest}" if marker else f"{text.rstrip()}\n\n{block}\n"
    return text.rstrip() + "\n\n" + block + "\n"
