"""The reputation model against SciPy, and its promises (pure functions)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta as scipy_beta

from swarmtrust.ledger.consensus import reliability
from swarmtrust.ledger.reputation import (
    DAY_MS,
    DEFAULT_PARAMS,
    apply_outcome,
    describe,
    newcomer,
    newcomer_prior_mean,
    observe,
    outcome_weight,
)
from swarmtrust.protocol.beta import Beta, Horizon
from swarmtrust.protocol.newcomers import COHORT_START


@settings(max_examples=200, deadline=None)
@given(a=st.floats(0.1, 500), b=st.floats(0.1, 500), level=st.floats(0.01, 0.99))
def test_bounds_and_means_are_scipys(a: float, b: float, level: float) -> None:
    posterior = Beta(a, b)
    assert posterior.lower_bound(level) == pytest.approx(scipy_beta.ppf(level, a, b), rel=1e-9)
    assert posterior.mean == pytest.approx(scipy_beta.mean(a, b))


def test_evidence_fades_by_its_half_lives() -> None:
    horizon = Horizon(half_life_checks=3, half_life_ms=DAY_MS)
    assert horizon.factor(3, 0) == pytest.approx(0.5)
    assert horizon.factor(0, DAY_MS) == pytest.approx(0.5)
    assert horizon.factor(3, DAY_MS) == pytest.approx(0.25)
    assert Horizon().factor(1000, 10**12) == 1.0
    rep = observe(newcomer(0.8, 0), True, 1.0, 0)
    month_later = rep.long_at(30 * DAY_MS)
    assert month_later.honest == pytest.approx(rep.long.honest / 2)
    assert month_later.prior_alpha == rep.long.prior_alpha, "forgetting returns to the prior, not to zero"


def test_a_newcomer_is_checked_every_time_until_ten_passes_in_a_row_then_less_never_zero() -> None:
    rep = newcomer(0.8, 0)
    rates = []
    for check in range(200):
        rates.append(rep.spot_check_rate(check))
        assert rep.state() == ("newcomer" if check < 10 else "trusted")
        rep = observe(rep, True, 1.0, check)
    assert rates[:10] == [1.0] * 10
    assert rates[10] < 1.0 and rates[-1] < rates[20] < rates[10]
    assert rates[-1] == pytest.approx(DEFAULT_PARAMS.spot_check_floor)


def test_one_confirmed_cheat_quarantines_however_long_the_record() -> None:
    rep = newcomer(0.8, 0)
    for check in range(500):
        rep = observe(rep, True, 2.0, check)
    trusted = rep.trust(500)
    assert trusted > 0.95 and rep.state() == "trusted"
    caught = observe(rep, False, 2.0, 501)
    assert caught.state() == "quarantined" and caught.trust(501) == 0.0
    assert observe(caught, True, 3.0, 502).quarantined, "quarantine is sticky"


def test_a_weak_prior_alone_never_quarantines() -> None:
    rep = newcomer(DEFAULT_PARAMS.prior_mean_floor, 0)
    for check in range(3):
        rep = observe(rep, True, 0.5, check)
        assert not rep.quarantined


def test_trust_is_the_lower_bound_of_the_long_posterior() -> None:
    rep = observe(observe(newcomer(0.8, 0), True, 1.0, 0), True, 1.0, 1)
    expected = scipy_beta.ppf(0.05, rep.long.alpha, rep.long.beta)
    assert rep.trust(1) == pytest.approx(expected)
    view = describe(rep, 1)
    assert view["trust"] == pytest.approx(expected) and view["interval"][0] == pytest.approx(expected)
    assert view["interval"][1] == pytest.approx(scipy_beta.ppf(0.95, rep.long.alpha, rep.long.beta))


@settings(max_examples=100, deadline=None)
@given(
    outcomes=st.lists(st.tuples(st.booleans(), st.floats(0.1, 3.0)), max_size=40),
    idle_days=st.floats(0, 200),
)
def test_what_clients_read_agrees_with_the_reputation_it_describes(
    outcomes: list[tuple[bool, float]], idle_days: float
) -> None:
    rep = newcomer(0.8, 0)
    for index, (honest, weight) in enumerate(outcomes):
        rep = observe(rep, honest, weight, index * 1000)
    now = len(outcomes) * 1000 + int(idle_days * DAY_MS)
    view = describe(rep, now)
    assert view["state"] == rep.state()
    assert view["trust"] == rep.trust(now)
    assert view["spot_check_rate"] == rep.spot_check_rate(now)


def test_a_flood_of_cheating_newcomers_lowers_the_prior_of_the_next() -> None:
    cohort, cohort_ms = COHORT_START, 0
    honest_prior = newcomer_prior_mean(cohort, 0)
    for index in range(20):  # twenty fresh identities, each failing its first check
        _, cohort = apply_outcome(None, cohort, cohort_ms, False, 2.0, 1000 * index)
        cohort_ms = 1000 * index
    flooded = newcomer_prior_mean(cohort, 0)
    assert flooded < honest_prior and flooded == pytest.approx(DEFAULT_PARAMS.prior_mean_floor)
    for _ in range(200):  # an honest cohort recovers it, up to the cap
        _, cohort = apply_outcome(None, cohort, cohort_ms, True, 2.0, cohort_ms + 1000)
        cohort_ms += 1000
    assert newcomer_prior_mean(cohort, 0) == pytest.approx(DEFAULT_PARAMS.prior_mean_cap)


def test_a_consensus_outweighs_a_single_check() -> None:
    single = outcome_weight("pass", reliability(0, 0), 0.0)
    consensus = outcome_weight("fail", 0.4, 3 * reliability(10, 0))
    assert single == pytest.approx(2 / 3) and consensus > single
    assert consensus <= DEFAULT_PARAMS.max_weight
    assert not math.isnan(outcome_weight("fail", 0.0, float("inf")))


def test_verifier_reliability_is_the_same_beta_machinery() -> None:
    assert reliability(0, 0) == pytest.approx(Beta(2, 1).mean)
    assert reliability(8, 2) == pytest.approx(Beta(2, 1, 8, 2).mean)
    assert reliability(0, 10) < 0.2
