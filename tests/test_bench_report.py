"""The benchmark report's file: each benchmark rewrites its own section and its own rows of the summary."""

from __future__ import annotations

from pathlib import Path

from bench.report import Section, Target, write_sections


def test_a_benchmark_run_alone_rewrites_only_its_section_and_summary_rows(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    write_sections(
        [
            Section("alpha", "## Alpha\n\nfirst run", (Target("alpha speed", "5/s", "≥ 10/s", False),)),
            Section("beta", "## Beta\n\nfirst run", (Target("beta cost", "1%", "≤ 2%", True),)),
        ],
        report,
    )
    write_sections(
        [Section("alpha", "## Alpha\n\nsecond run", (Target("alpha speed", "12/s", "≥ 10/s", True),))], report
    )
    text = report.read_text()
    assert text.startswith("# Benchmarks")
    assert text.index("<!-- bench:summary -->") < text.index("<!-- bench:alpha -->") < text.index("<!-- bench:beta -->")
    assert "second run" in text and "first run" in text  # beta's section kept
    summary = text[text.index("<!-- bench:summary -->") : text.index("<!-- /bench:summary -->")]
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert rows == ["| `alpha` | alpha speed | 12/s | ≥ 10/s | yes |", "| `beta` | beta cost | 1% | ≤ 2% | yes |"]


def test_a_missed_target_stands_out(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    write_sections([Section("alpha", "## Alpha", (Target("alpha speed", "5/s", "≥ 10/s", False),))], report)
    assert "| `alpha` | alpha speed | 5/s | ≥ 10/s | **no** |" in report.read_text()
