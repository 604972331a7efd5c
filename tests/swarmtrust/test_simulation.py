"""The adversary simulation: reproducible, and the properties its report must show even on short runs.

Detection follows a calibration's measured session rates (``detection_table``; here a crafted calibration,
``calibrations.crafted_table``, with rates of 0, in between and 1); the bounds a cheater must be caught within
are those of ``swarmtrust.simulation.detection``.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from swarmtrust.cli import app
from swarmtrust.protocol.bond_rule import SPOT_CHECK_FLOOR
from swarmtrust.simulation.config import ADVERSARIES, SimulationConfig
from swarmtrust.simulation.detection import check_detection, checks_bound, compares_corruption
from swarmtrust.simulation.detection_table import table_of
from swarmtrust.simulation.engine import AUDIT_RATE, CheckModel, colluders_first_share, simulate
from swarmtrust.simulation.errors import ScenarioError
from tests.swarmtrust.calibrations import calibration_document, crafted_table, write_calibration

TABLE = crafted_table()
DTYPES = TABLE.dtypes


def config(adversary: str = "cheat:1", fraction: float = 0.3, **extra: Any) -> SimulationConfig:
    return SimulationConfig(adversary, fraction, **({"detection": TABLE} | extra))


def run(adversary: str, fraction: float = 0.3, requests: int = 1500, seed: int = 1, **extra: Any) -> dict[str, Any]:
    return simulate(config(adversary, fraction, requests=requests, seed=seed, **extra))


def test_a_fixed_seed_reproduces_the_run() -> None:
    assert run("collude", requests=800, dtype="bfloat16") == run("collude", requests=800, dtype="bfloat16")
    assert run("cheat:0.1", requests=800, seed=2) != run("cheat:0.1", requests=800)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("adversary", ADVERSARIES)
def test_honest_servers_are_never_quarantined(adversary: str, dtype: str) -> None:
    """The sweep's scenarios, shorter: whatever the adversary and however little a check sees."""
    for fraction in (0.3, 0.7):
        report = run(adversary, fraction, requests=700, dtype=dtype)
        assert report["honest_false_quarantines"] == 0, report["scenario"]


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(ADVERSARIES),
    st.sampled_from(DTYPES),
    st.sampled_from(("noise:0.001", "noise:0.01", "skip-layers", "int8-weights")),
    st.floats(0.0, 0.9),
    st.sampled_from(("draw", "first-come")),
    st.integers(0, 2**32),
)
@pytest.mark.slow  # heavy: in the full tier only
def test_no_scenario_quarantines_an_honest_server(
    adversary: str, dtype: str, corruption: str, fraction: float, first: str, seed: int
) -> None:
    """Over adversaries, detection rates, malicious shares, first-assignment rules and seeds (short runs)."""
    scenario = config(
        adversary, fraction, requests=400, seed=seed, dtype=dtype, corruption=corruption, first_assignment=first
    )
    assert simulate(scenario)["honest_false_quarantines"] == 0


def test_colluders_polling_first_come_still_frame_nobody() -> None:
    for adversary in ("collude", "collude-frame"):
        report = run(adversary, 0.5, requests=1000, first_assignment="first-come")
        assert report["honest_false_quarantines"] == 0


# One corruption per distinct (dtype, rate) of the crafted calibration: 0, 0.2, 0.6, 0.75, 0.85 and 1.
DISTINCT_RATES = {(dtype, rates.caught[c].rate): c for dtype, rates in TABLE.rows.items() for c in rates.caught}
MEASURED = sorted((dtype, corruption) for (dtype, _), corruption in DISTINCT_RATES.items())


@pytest.mark.parametrize(("dtype", "corruption"), MEASURED)
@pytest.mark.slow  # heavy: in the full tier only
def test_a_cheater_is_caught_within_the_bound_of_its_detection_rate(dtype: str, corruption: str) -> None:
    """A check of a corrupted session convicts with probability d, the calibration's share of sessions caught, so a
    cheater is convicted within ``checks_bound(d)`` checks of corrupted sessions (all but 1e-3 of the time;
    exactly 1 when d = 1), and the convictions over all checks of corrupted sessions estimate d. Each distinct
    rate of the crafted calibration, over a few seeds when d is neither 0 nor 1, so the estimate has something
    to count."""
    scenario = config("cheat:1", 0.5, requests=1200, dtype=dtype, corruption=corruption)
    d = CheckModel.of(scenario).detection
    assert d == TABLE.detection(dtype, corruption).rate  # every step corrupted and compared: the measured rate
    reports = [simulate(replace(scenario, seed=seed)) for seed in ((1,) if d in (0.0, 1.0) else (1, 2, 3, 4))]
    records = [record for report in reports for record in report["malicious_records"]]
    bound = checks_bound(d)
    if bound is None:  # caught in no calibrated session: nothing convicts it
        assert d == 0.0 and not any(convicted for _, _, convicted, _ in records)
        assert sum(checks for _, checks, _, _ in records) > 0  # it was checked, and passed every time
        assert reports[0]["corrupted_output_share"] > 0.2
        return
    for key, checks, convicted, _ in records:
        assert checks < bound or convicted, (key, checks, bound)
        assert checks <= bound or not convicted, (key, checks, bound)
    trials = sum(checks for _, checks, _, _ in records)
    convictions = sum(convicted for _, _, convicted, _ in records)
    # Censored geometric trials: convictions ~ Binomial(trials, d), within three standard deviations.
    assert convictions > 0
    assert abs(convictions - trials * d) <= 3 * math.sqrt(trials * d * (1 - d)) + 1, (convictions, trials, d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_partial_cheater_corrupts_about_one_over_r_d_sessions_before_conviction(dtype: str) -> None:
    """Each corrupted session is checked with probability at least the floor rate r and a check convicts with
    probability d (skip-layers: 1 in both dtypes), so a cheater corrupts more than ``checks_bound(r·d)``
    sessions unconvicted only 1e-3 of the time, whatever its rate (plus those served while its last check was
    being decided)."""
    scenario = config("cheat:0.1", 0.5, requests=2500, seed=3, dtype=dtype, corruption="skip-layers")
    report = simulate(scenario)
    bound = checks_bound(SPOT_CHECK_FLOOR * report["checking"]["session_detection"])
    assert bound is not None
    in_flight = scenario.check_latency * 2  # sessions a server may answer while its check is decided
    assert any(convicted for _, _, convicted, _ in report["malicious_records"])
    for key, _, _, corrupted in report["malicious_records"]:
        assert corrupted <= bound + in_flight, (key, corrupted, bound)


@pytest.mark.slow  # heavy: in the full tier only
def test_smart_colluders_stay_trusted_and_take_only_the_share_the_draw_gives_them() -> None:
    """Colluders that judge everyone but their partners honestly keep their reliability; under the
    reliability draw they get about their head count's share of first looks (first come, first served they
    would get most), and partners' cheats are still convicted within the bound of d·(1 − escape)."""
    drawn = run("collude", 0.5, requests=2500)
    share = colluders_first_share(config("collude", 0.5, requests=2500, seed=1))
    assert abs(drawn["colluder_first_look_share"] - share) < 0.06
    assert drawn["verifier_reliability"]["colluding_mean"] > 0.8
    assert drawn["honest_false_quarantines"] == 0
    escape = share * (1 - AUDIT_RATE)
    bound = checks_bound(drawn["checking"]["session_detection"] * (1 - escape))
    assert bound is not None
    assert drawn["malicious_quarantined"] > 0
    for key, checks, convicted, _ in drawn["malicious_records"]:
        assert checks < bound or convicted, (key, checks, bound)
    first_come = run("collude", 0.5, requests=2500, first_assignment="first-come")
    assert first_come["colluder_first_look_share"] > 0.6 > drawn["colluder_first_look_share"]


def test_framing_colluders_lose_their_reliability_and_their_first_looks() -> None:
    report = run("collude-frame", 0.5, requests=2500)
    assert report["honest_false_quarantines"] == 0
    assert report["verifier_reliability"]["colluding_mean"] < 0.5 < report["verifier_reliability"]["honest_mean"]
    assert report["colluder_first_look_share"] < 0.75 * colluders_first_share(config("collude-frame"))


def test_independent_false_alarms_are_outvoted_but_an_alarm_in_the_evidence_convicts() -> None:
    """A per-session false-positive rate of 3% (far above the measured 0 in 1,080): when each replay errs on
    its own, the dispute outvotes the one verifier that failed; when the false alarm is in the evidence, every
    replay sees it and the honest server is convicted. The measured rate is what keeps that from happening."""
    independent = run("cheat:0.1", 0.3, requests=1500, false_positive_rate=0.03, false_positive_scope="verifier")
    assert independent["honest_false_quarantines"] == 0
    assert independent["disputes"] > 0
    shared = run("cheat:0.1", 0.3, requests=1500, false_positive_rate=0.03, false_positive_scope="session")
    assert shared["honest_false_quarantines"] > 0


def test_a_corruption_calibration_never_caught_is_never_convicted() -> None:
    """bfloat16 noise:0.001, caught in 0 of 200 calibrated sessions: checked many times, never convicted, and
    its corrupted outputs stay in the swarm."""
    report = run("cheat:1", 0.3, requests=1000, dtype="bfloat16", corruption="noise:0.001")
    assert report["checking"]["session_detection"] == 0.0
    assert report["checks"] > 50
    assert report["malicious_quarantined"] == 0
    assert report["corrupted_output_share"] > 0.2


def test_a_corruption_calibration_always_caught_is_convicted_at_its_first_check() -> None:
    """bfloat16 fp8-weights, caught in 200 of 200 calibrated sessions: every cheater checked is convicted by
    that one check (some were never routed to or checked in so short a run)."""
    report = run("cheat:1", 0.3, requests=1000, dtype="bfloat16", corruption="fp8-weights")
    assert report["checking"]["session_detection"] == 1.0
    checked = [(checks, convicted) for _, checks, convicted, _ in report["malicious_records"] if checks]
    assert checked and all(record == (1, True) for record in checked), checked
    assert report["max_checks_to_quarantine"] == 1


def test_a_check_comparing_part_of_a_sparsely_corrupted_session_finds_less() -> None:
    """Calibration corrupts every step; a session corrupting 1 of 32 steps, checked on 8 of them, is caught
    only when that step is compared (a quarter of the time), at most at the measured rate."""
    measured = TABLE.detection("bfloat16", "noise:0.01").rate
    full = CheckModel.of(config(dtype="bfloat16", corruption="noise:0.01"))
    sparse = CheckModel.of(config(dtype="bfloat16", corruption="noise:0.01", corrupted_steps=1, compared_steps=8))
    assert full.detection == measured == 0.6
    assert sparse.detection == pytest.approx(measured * 8 / 32)


def test_honest_sessions_fail_at_the_held_out_rate_unless_one_is_given() -> None:
    alarming = table_of(
        [calibration_document("float32", {"skip-layers": (20, 20)}, false_positives=(540, 1080))], "alarming"
    )
    measured = run("cheat:0.1", 0.3, requests=800, corruption="skip-layers", detection=alarming)
    assert measured["checking"]["session_false_alarm"] == 0.5
    assert measured["scenario"]["false_positive_rate"] == 0.5
    assert measured["honest_false_quarantines"] > 0  # half of all honest checks fail: the evidence convicts
    assert run("cheat:0.1", 0.3, requests=200)["checking"]["session_false_alarm"] == 0.0  # 0 in 1,080 seen
    given = run("cheat:0.1", 0.3, requests=800, corruption="skip-layers", detection=alarming, false_positive_rate=0.0)
    assert given["checking"]["session_false_alarm"] == 0.0
    assert given["honest_false_quarantines"] == 0


def test_the_report_says_which_calibration_and_how_many_sessions_each_rate_rests_on() -> None:
    report = run("cheat:1", 0.3, requests=200, dtype="bfloat16", corruption="int8-weights")
    checking = report["checking"]
    assert checking["measured"] == {
        "caught": 170,
        "sessions": 200,
        "false_positives": 0,
        "held_out_span_sessions": 1080,
    }
    assert checking["measured_session_detection"] == checking["session_detection"] == 0.85
    source = checking["source"]
    assert source.startswith("tests/swarmtrust/calibrations.py, tiny bfloat16")
    assert "int8-weights caught in 170 of 200 sessions" in source and "0 false positives in 1,080" in source


def test_simulate_takes_its_rates_from_the_calibration_file_given(tmp_path: Path) -> None:
    path = write_calibration(
        tmp_path / "calibration.json",
        [calibration_document("float16", {"wrong-weights": (9, 12)}, false_positives=(1, 500))],
    )
    runner = CliRunner()
    args = ["simulate", "--calibration", str(path), "--requests", "60", "--servers", "8"]
    result = runner.invoke(app, [*args, "--dtype", "float16", "--corruption", "wrong-weights"])
    assert result.exit_code == 0, result.output
    assert f"detection rates: {path}, tiny float16" in result.output
    assert "wrong-weights caught in 9 of 12 sessions; 1 false positives in 500" in result.output
    as_json = runner.invoke(app, [*args, "--dtype", "float16", "--corruption", "wrong-weights", "--json"])
    assert json.loads(as_json.output)["checking"]["session_detection"] == 0.75


def test_simulate_refuses_a_calibration_without_what_is_asked_and_writes_nothing(tmp_path: Path) -> None:
    path = write_calibration(tmp_path / "calibration.json", [calibration_document("float16", {"skip-layers": (1, 1)})])
    first_format = tmp_path / "first-format.json"
    first_format.write_text(json.dumps({"model": "tiny", "margin": 4.0, "thresholds": {}}))
    plots = tmp_path / "plots"
    runner = CliRunner()
    cases = [
        ([str(path), "--dtype", "float32"], "holds float16"),
        ([str(path), "--dtype", "float16", "--corruption", "noise:0.01"], "measured, in float16: skip-layers"),
        ([str(first_format)], "format 2"),
        ([str(tmp_path / "missing.json")], "cannot read the calibration file"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["simulate", "--requests", "20", "--plots", str(plots), "--calibration", *args])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), result.output
    assert not plots.exists()


def test_floods_get_no_more_than_the_exploration_budget() -> None:
    for adversary in ("sybil", "whitewash"):
        report = run(adversary, 0.5, requests=2000)
        assert report["flood_traffic_share"] <= 1.5 * report["exploration_budget"], report


def test_verification_stays_a_small_share_of_serving() -> None:
    assert run("cheat:0.01", 0.1, requests=2000)["steady_state_verification_overhead"] < 0.10


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 1.0),
    st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n))),
)
def test_a_check_finds_the_session_rate_at_most_and_only_when_it_compares_a_corrupted_step(
    rate: float, sizes: tuple[int, int, int]
) -> None:
    """d = c · P(a corrupted step is compared): the calibration's rate c when every corrupted step is compared
    (or every step is corrupted), less as the check compares fewer of them, 0 when it can compare none."""
    steps, corrupted, compared = sizes
    seen = compares_corruption(steps, corrupted, compared)
    d = check_detection(rate, steps, corrupted, compared)
    assert 0.0 <= seen <= 1.0 and 0.0 <= d <= rate
    assert d == pytest.approx(rate * seen)
    if compared < steps:
        assert compares_corruption(steps, corrupted, compared + 1) >= seen - 1e-12
    if corrupted < steps:
        assert compares_corruption(steps, corrupted + 1, compared) >= seen - 1e-12
    if corrupted > 0 and compared > steps - corrupted:  # every step corrupted, or every step compared, or ...
        assert seen == 1.0 and d == rate
    if compared + corrupted <= steps:  # the check can miss every corrupted step: the chance it does
        assert 1.0 - seen == pytest.approx(math.comb(steps - corrupted, compared) / math.comb(steps, compared))
    if corrupted == 0 or compared == 0 or rate == 0.0:
        assert d == 0.0


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 0.999999), st.floats(1e-9, 0.5))
def test_checks_bound_is_the_least_count_that_misses_rarely_enough(d: float, miss: float) -> None:
    n = checks_bound(d, miss)
    assert n is not None and n >= 1
    assert (1 - d) ** n <= miss * (1 + 1e-9)
    assert n == 1 or (1 - d) ** (n - 1) > miss * (1 - 1e-9)


def test_scenarios_are_validated() -> None:
    with pytest.raises(ScenarioError, match="--adversary"):
        config(adversary="bribe")
    with pytest.raises(ScenarioError, match="some honest servers"):
        config(fraction=1.0)
    with pytest.raises(ScenarioError, match="minority"):
        config(adversary="collude", verifiers=4, colluding_verifiers=2)
    with pytest.raises(ScenarioError, match=r"--dtype 'float16'.*holds float32, bfloat16"):
        config(dtype="float16")
    with pytest.raises(ScenarioError, match=r"--corruption 'noise:0.5'.*skip-layers"):
        config(corruption="noise:0.5")
    with pytest.raises(ScenarioError, match="compared_steps"):
        config(compared_steps=33)
    with pytest.raises(ScenarioError, match="false-positive-rate"):
        config(false_positive_rate=1.5)
    with pytest.raises(ValueError, match="corrupted, compared"):
        compares_corruption(4, 5, 4)
    with pytest.raises(ValueError, match="probability"):
        check_detection(1.5, 4, 4, 4)
