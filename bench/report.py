"""Writing benchmark results: each benchmark owns one marked section of docs/BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"

_HEADER = """# Benchmarks

Measured by `make bench` (`python -m bench.run`); each section below is rewritten by its benchmark.
Machines here are shared and noisy, so every figure is a median of repeated runs and every target is a
ratio against a baseline measured in the same run.
"""


@dataclass(frozen=True)
class Section:
    name: str  # marker id, e.g. "ledger-ingest"
    markdown: str


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
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_sections(sections: Sequence[Section], path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) each section between its markers, leaving the others as they were."""
    text = path.read_text() if path.exists() else _HEADER
    for section in sections:
        start, end = f"<!-- bench:{section.name} -->", f"<!-- /bench:{section.name} -->"
        block = f"{start}\n{section.markdown.strip()}\n{end}"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        match = pattern.search(text)
        if match:
            text = text[: match.start()] + block + text[match.end() :]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
