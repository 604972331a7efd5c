"""The round logic of a challenge (pure): when a dispute may decide, when it must poll on, when a fail has
its quorum, and when a pass is audited; properties over every sequence of verdicts with hypothesis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.ledger.consensus import (
    NextStep,
    RoundVerdict,
    audit_probability,
    conviction_quorum,
    is_clear,
    next_step,
    reliability,
    trusted_reliability,
)

RELIABLE = 2 / 3  # a new verifier's reliability


def votes(*outcomes: tuple[str, str]) -> list[RoundVerdict]:
    return [
        RoundVerdict(f"{i:032x}", f"verifier-{i}", round_, outcome, RELIABLE)
        for i, (round_, outcome) in enumerate(outcomes)
    ]


def step(verdicts: list[RoundVerdict], wanted: int, *, can_escalate: bool = True):  # type: ignore[no-untyped-def]
    return next_step(
        "dispute",
        wanted,
        verdicts,
        dispute_verifiers=2,
        audit_rate=0.0,
        max_audit_rate=0.0,
        can_escalate=can_escalate,
        audit_coin=0.5,
    )


def test_a_unanimous_failure_decides() -> None:
    decided = step(votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "fail")), 2)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail"


def test_a_clear_but_contested_failure_polls_on_while_verifiers_remain() -> None:
    # Three fails against one pass is a clear majority, yet the one pass may be the only honest verifier
    # among colluders who filled the seats: the dispute grows instead of convicting.
    contested = votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "pass"), ("dispute", "fail"))
    assert step(contested, 3).action == "dispute"
    assert step(contested, 3).wanted == 5


def test_once_every_verifier_has_spoken_the_weighted_majority_decides() -> None:
    contested = votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "pass"), ("dispute", "fail"))
    decided = step(contested, 3, can_escalate=False)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail"


def test_a_clear_pass_stands_even_when_contested() -> None:
    cleared = votes(("initial", "fail"), ("dispute", "pass"), ("dispute", "pass"), ("dispute", "pass"))
    decided = step(cleared, 3)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "pass"


# --- properties over every sequence of verdicts (hypothesis) ------------------------------------------------

OUTCOMES = st.sampled_from(["pass", "fail", "invalid_evidence"])
RELIABILITIES = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
COINS = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, int, list[RoundVerdict], int, bool, float]:
    """A challenge in any phase with any verdicts so far, any wanted count, k, escalation and coin."""
    phase = draw(st.sampled_from(["initial", "audit", "dispute"]))
    rounds = st.sampled_from(["initial", "audit", "dispute"])
    entries = draw(st.lists(st.tuples(rounds, OUTCOMES, RELIABILITIES), max_size=12))
    verdicts = [
        RoundVerdict(f"{i:032x}", f"verifier-{i}", round_, outcome, rel)
        for i, (round_, outcome, rel) in enumerate(entries)
    ]
    wanted = draw(st.integers(min_value=0, max_value=12))
    k = draw(st.integers(min_value=1, max_value=6))
    return phase, wanted, verdicts, k, draw(st.booleans()), draw(COINS)


def run(history: tuple[str, int, list[RoundVerdict], int, bool, float], **rates: float) -> NextStep:
    phase, wanted, verdicts, k, can_escalate, coin = history
    rate = {"audit_rate": 0.1, "max_audit_rate": 1.0} | rates
    return next_step(phase, wanted, verdicts, dispute_verifiers=k, can_escalate=can_escalate, audit_coin=coin, **rate)


@given(histories())
@settings(max_examples=2000, deadline=None)
@pytest.mark.slow  # heavy: in the full tier only
def test_no_fail_stands_on_fewer_verdicts_than_the_quorum(history: Any) -> None:
    """However verifiers vanish or arrive late (``wanted`` shrunk by the ledger, ``can_escalate`` false), a
    conviction needs 1 + k verdicts."""
    decided = run(history)
    if decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail":
        assert len(history[2]) >= conviction_quorum(history[3])


@given(histories())
@settings(max_examples=2000, deadline=None)
@pytest.mark.slow  # heavy: in the full tier only
def test_a_fail_is_unanimous_while_the_pool_is_not_exhausted(history: Any) -> None:
    decided = run(history)
    fail = decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail"
    if fail and history[0] == "dispute" and history[4]:
        assert decided.decision is not None
        assert decided.decision.pass_weight == 0.0 and is_clear(decided.decision)


@given(histories())
@settings(max_examples=2000, deadline=None)
@pytest.mark.slow  # heavy: in the full tier only
def test_a_first_pass_is_audited_exactly_when_its_coin_falls_under_its_chance(history: Any) -> None:
    phase, wanted, verdicts, _k, _esc, coin = history
    decided = run(history)
    in_round = [v for v in verdicts if v.round == phase]
    first_pass = phase == "initial" and len(in_round) >= max(wanted, 1) and all(v.outcome == "pass" for v in in_round)
    if not first_pass:
        assert decided.audit_chance is None and decided.action != "audit"
        return
    chance = audit_probability(in_round[0].reliability, 0.1, 1.0)
    assert decided.audit_chance == chance
    assert (decided.action == "audit") == (coin < chance)
    if in_round[0].reliability < trusted_reliability():
        assert decided.action == "audit", "an apprentice verifier's every pass is audited"


@given(histories())
@settings(max_examples=500, deadline=None)
@pytest.mark.slow  # heavy: in the full tier only
def test_the_coin_never_matters_outside_a_first_pass(history: Any) -> None:
    phase, wanted, verdicts, k, can_escalate, _coin = history
    outcomes = {run((phase, wanted, verdicts, k, can_escalate, coin)) for coin in (0.0, 0.5, 0.999)}
    if phase != "initial":
        assert len(outcomes) == 1


def test_the_apprenticeship_lasts_ten_agreements() -> None:
    assert reliability(9, 0) < trusted_reliability() <= reliability(10, 0)
    assert audit_probability(reliability(9, 0), 0.1, 1.0) == 1.0
    assert audit_probability(reliability(10, 0), 0.1, 1.0) < 0.2
    assert audit_probability(reliability(0, 0), 0.1, 0.0) == 0.0, "audits off: nobody is audited"


def test_a_coin_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="audit_coin"):
        next_step("initial", 1, votes(("initial", "pass")), dispute_verifiers=2, audit_rate=0.1,
                  max_audit_rate=1.0, audit_coin=1.0)  # fmt: skip


def test_a_fail_with_two_verdicts_waits_even_when_nobody_else_can_come() -> None:
    short = votes(("initial", "fail"), ("dispute", "fail"))
    assert step(short, 1, can_escalate=False).action == "wait"
    assert step(short, 0, can_escalate=False).action == "wait"
