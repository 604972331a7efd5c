"""The benchmark report's file: each benchmark rewrites its own section and its own rows of the summary."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench import performance, plots
from bench import report as report_module
from bench.report import Section, Target, in_turn, paired_cost, round_costs, save_results, write_sections


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


def test_the_opening_section_goes_before_the_summary_and_stays_there(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    write_sections([Section("alpha", "## Alpha", (Target("alpha speed", "5/s", "≥ 10/s", False),))], report)
    write_sections([Section("table", "## Table\n\nfirst", (), opens=True)], report)
    write_sections([Section("table", "## Table\n\nsecond", (), opens=True)], report)
    text = report.read_text()
    assert text.index("<!-- bench:table -->") < text.index("<!-- bench:summary -->") < text.index("<!-- bench:alpha")
    assert "second" in text and "first" not in text


LOOPBACK: dict[str, dict[str, object]] = {key: {"decode": rate, "prefill": rate * 30} for key, rate in
            {"local": 400.0, "2-on": 200.0, "2-off": 220.0, "4-on": 120.0, "4-off": 130.0}.items()}  # fmt: skip
LOOPBACK["2-on"]["cost_rounds"] = round_costs([190.0, 200.0, 210.0], [200.0, 220.0, 215.0])
LIMITED = {
    key: {"label": f"({key}) 100 Mbit/s, 2 ms RTT", "on": 90.0, "off": 100.0, "limit": 150.0} for key in ("a", "b", "c")
}
CONCURRENT = {
    f"{count}-{trust}": {"median": 50.0 * scale, "slowest": 40.0 * scale, "total": 50.0 * count * scale}
    for count in (1, 4, 8)
    for trust, scale in (("on", 1.0), ("off", 1.25))
}
LOAD = {model: {"1": {"share": 0.3, "per_step_ms": 0.5}, "0.05": {"share": 0.015, "per_step_ms": 0.03}}
        for model in ("tiny", "hidden-256")}  # fmt: skip


def test_the_performance_table_has_every_row_with_the_trust_layer_on_and_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report_module, "machine_summary", lambda: "a test machine")  # no git run in the fast tier
    monkeypatch.setattr(plots, "IMAGES", tmp_path / "docs" / "img")
    monkeypatch.setattr(plots, "BENCHMARKS_MD", tmp_path / "docs" / "BENCHMARKS.md")
    for name, figures in zip(performance.INPUTS, (LOOPBACK, LIMITED, CONCURRENT, LOAD), strict=True):
        save_results(name, figures)
    section = performance.run()
    rows = [line for line in section.markdown.splitlines() if line.startswith("| ") and "setting" not in line]
    assert len(rows) == 1 + 2 + 3 + 3  # in-process, two loopback chains, three networks, three client counts
    # the rounds' own costs are 5.0%, 9.1% and 2.3%: the cost is their median (not the medians' 9.1%), the range
    # their least and most; a row whose results kept none falls back to its medians' cost and shows a dash
    assert "| loopback chain, `tiny` | 2 | loopback | 1 | 200 | 220 | +5.0% | +2.3% to +9.1% | 6,000 / 6,600 |" in rows
    assert "| loopback chain, `tiny` | 4 | loopback | 1 | 120 | 130 | +7.7% | — | 3,600 / 3,900 |" in rows
    assert any(
        r.startswith("| concurrent clients, hidden 256 | 2 | loopback | 8 | 400 (median client 50") for r in rows
    )
    assert "30% of the servers' compute" in section.markdown
    assert (tmp_path / "docs" / "img" / "performance.png").exists()
    assert section.opens


def test_the_performance_table_says_which_benchmarks_to_run_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report_module, "machine_summary", lambda: "a test machine")  # no git run in the fast tier
    save_results("loopback-chain", LOOPBACK)
    with pytest.raises(
        performance.MissingResultsError, match=r"python -m bench\.run limited-networks concurrent-clients"
    ):
        performance.run()


def test_rounds_pair_up_or_the_costs_are_refused() -> None:
    assert round_costs([90.0, 100.0], [100.0, 100.0]) == pytest.approx([0.1, 0.0])
    with pytest.raises(ValueError, match="2 rounds with the trust layer on against 3"):
        round_costs([90.0, 100.0], [100.0, 100.0, 100.0])


def test_the_cost_pairs_each_round_with_itself() -> None:
    # the machine ran at 100, 120 and 80 steps/s without the trust layer in three rounds; with it, 10% slower in
    # the first and last and hit by a burst in the second: the rounds' median cost is 10%, while the columns'
    # medians (72 against 100) would set the last round's rate against the first's and say 28%
    on, off = [90.0, 60.0, 72.0], [100.0, 120.0, 80.0]
    assert paired_cost(on, off) == pytest.approx(0.1)
    assert 1 - statistics.median(on) / statistics.median(off) == pytest.approx(0.28)


def test_rounds_alternate_the_order_of_their_configurations() -> None:
    assert [in_turn(index, ["on", "off", "alone"]) for index in range(3)] == [
        ["on", "off", "alone"],
        ["alone", "off", "on"],
        ["on", "off", "alone"],
    ]
