"""The adversary simulation: reproducible, and the properties its report must show even on short runs.

Detection follows the measured table (``config.STEP_DETECTION``); the bounds a cheater must be caught within
are those of ``swarmtrust.simulation.detection``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.bond_rule import SPOT_CHECK_FLOOR
from swarmtrust.simulation.config import ADVERSARIES, DTYPES, STEP_DETECTION, ScenarioError, SimulationConfig
from swarmtrust.simulation.detection import checks_bound, session_detection
from swarmtrust.simulation.engine import AUDIT_RATE, CheckModel, colluders_first_share, simulate


def run(adversary: str, fraction: float = 0.3, requests: int = 1500, seed: int = 1, **extra: Any) -> dict[str, Any]:
    return simulate(
        SimulationConfig(adversary=adversary, malicious_fraction=fraction, requests=requests, seed=seed, **extra)
    )


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
    st.sampled_from(("noise:0.01", "skip-layers", "wrong-weights")),
    st.floats(0.0, 0.9),
    st.sampled_from(("draw", "first-come")),
    st.integers(0, 2**32),
)
def test_no_scenario_quarantines_an_honest_server(
    adversary: str, dtype: str, corruption: str, fraction: float, first: str, seed: int
) -> None:
    """Over adversaries, detection rates, malicious shares, first-assignment rules and seeds (short runs)."""
    config = SimulationConfig(
        adversary, fraction, requests=400, seed=seed, dtype=dtype, corruption=corruption, first_assignment=first
    )
    assert simulate(config)["honest_false_quarantines"] == 0


def test_colluders_polling_first_come_still_frame_nobody() -> None:
    for adversary in ("collude", "collude-frame"):
        report = run(adversary, 0.5, requests=1000, first_assignment="first-come")
        assert report["honest_false_quarantines"] == 0


MEASURED = [(dtype, corruption) for dtype, row in STEP_DETECTION.items() for corruption in row]


@pytest.mark.parametrize(("dtype", "corruption"), MEASURED)
def test_a_cheater_is_caught_within_the_bound_of_its_detection_rate(dtype: str, corruption: str) -> None:
    """A check of a corrupted session convicts with probability d, so a cheater is convicted within
    ``checks_bound(d)`` checks of corrupted sessions (all but 1e-3 of the time; exactly 1 when d = 1), and the
    convictions over all checks of corrupted sessions estimate d. Sessions of 128 steps (d = 3.9% for bf16
    wrong-weights), over a few seeds when d is neither 0 nor 1, so the estimate has something to count."""
    config = SimulationConfig("cheat:1", 0.5, requests=1200, dtype=dtype, corruption=corruption, steps_per_request=128)
    d = CheckModel.of(config).detection
    reports = [simulate(replace(config, seed=seed)) for seed in ((1,) if d in (0.0, 1.0) else (1, 2, 3, 4))]
    records = [record for report in reports for record in report["malicious_records"]]
    bound = checks_bound(d)
    if bound is None:  # nothing convicts it: the documented bf16 limit
        assert d == 0.0 and not any(convicted for _, _, convicted, _ in records)
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
    config = SimulationConfig("cheat:0.1", 0.5, requests=2500, seed=3, dtype=dtype, corruption="skip-layers")
    report = simulate(config)
    bound = checks_bound(SPOT_CHECK_FLOOR * report["checking"]["session_detection"])
    assert bound is not None
    in_flight = config.check_latency * 2  # sessions a server may answer while its check is decided
    assert any(convicted for _, _, convicted, _ in report["malicious_records"])
    for key, _, _, corrupted in report["malicious_records"]:
        assert corrupted <= bound + in_flight, (key, corrupted, bound)


def test_smart_colluders_stay_trusted_and_take_only_the_share_the_draw_gives_them() -> None:
    """Colluders that judge everyone but their partners honestly keep their reliability; under the
    reliability draw they get about their head count's share of first looks (first come, first served they
    would get most), and partners' cheats are still convicted within the bound of d·(1 − escape)."""
    drawn = run("collude", 0.5, requests=2500)
    config = SimulationConfig("collude", 0.5, requests=2500, seed=1)
    share = colluders_first_share(config)
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
    assert report["colluder_first_look_share"] < 0.75 * colluders_first_share(SimulationConfig("collude-frame"))


def test_independent_false_alarms_are_outvoted_but_an_alarm_in_the_evidence_convicts() -> None:
    """A per-step false-positive rate of 1e-3 (far above the measured 0 in 100,007): when each replay errs on
    its own, the dispute outvotes the one verifier that failed; when the false alarm is in the evidence, every
    replay sees it and the honest server is convicted. The measured rate is what keeps that from happening."""
    independent = run("cheat:0.1", 0.3, requests=1500, false_positive_rate=1e-3, false_positive_scope="verifier")
    assert independent["honest_false_quarantines"] == 0
    assert independent["disputes"] > 0
    shared = run("cheat:0.1", 0.3, requests=1500, false_positive_rate=1e-3, false_positive_scope="session")
    assert shared["honest_false_quarantines"] > 0


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
def test_session_detection_is_a_probability_that_grows_with_what_is_compared(
    rate: float, sizes: tuple[int, int, int]
) -> None:
    steps, corrupted, compared = sizes
    d = session_detection(rate, steps, corrupted, compared)
    assert 0.0 <= d <= 1.0
    if compared < steps:
        assert session_detection(rate, steps, corrupted, compared + 1) >= d - 1e-12
    if corrupted < steps:
        assert session_detection(rate, steps, corrupted + 1, compared) >= d - 1e-12
    if compared == steps:  # every corrupted step is compared
        assert d == pytest.approx(1 - (1 - rate) ** corrupted)
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
        SimulationConfig(adversary="bribe")
    with pytest.raises(ScenarioError, match="some honest servers"):
        SimulationConfig(malicious_fraction=1.0)
    with pytest.raises(ScenarioError, match="minority"):
        SimulationConfig(adversary="collude", verifiers=4, colluding_verifiers=2)
    with pytest.raises(ScenarioError, match="--dtype"):
        SimulationConfig(dtype="float16")
    with pytest.raises(ScenarioError, match="--corruption"):
        SimulationConfig(corruption="noise:0.5")
    with pytest.raises(ScenarioError, match="compared_steps"):
        SimulationConfig(compared_steps=33)
    with pytest.raises(ScenarioError, match="false-positive-rate"):
        SimulationConfig(false_positive_rate=1.5)
    with pytest.raises(ValueError, match="corrupted, compared"):
        session_detection(0.5, 4, 5, 4)
