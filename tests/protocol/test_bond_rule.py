"""The bond rule (pure): at the bond it asks, a cheater expects to lose at least ten times what each corrupted
session pays, whatever the price, rates and slash share; one micro-credit less and it does not."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.bond_rule import (
    DEFAULT_BOND_TERMS,
    MIN_BOND,
    PPM,
    SESSION_TOKENS,
    BondTerms,
    expected_slash_per_corrupted_session,
    fully_bonded,
    required_bond,
    session_block_tokens,
    slash_amount,
)
from swarmtrust.protocol.market_records import MAX_PRICE, MICRO

probabilities = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False)
terms_strategy = st.builds(
    BondTerms,
    spot_check_rate=probabilities,
    detection=probabilities,
    slash_ppm=st.integers(1, PPM),
    deterrence=st.integers(0, 100),
    sessions_in_flight=st.integers(0, 10_000),
    min_bond=st.integers(0, 1_000 * MICRO),
)


@settings(max_examples=2000, deadline=None)
@given(price=st.integers(0, MAX_PRICE), block_tokens=st.integers(0, 10**7), terms=terms_strategy)
@pytest.mark.slow  # heavy: in the full tier only
def test_at_the_required_bond_cheating_costs_its_margin_and_below_it_does_not(
    price: int, block_tokens: int, terms: BondTerms
) -> None:
    bond = required_bond(price, block_tokens, terms)
    assert bond is not None
    pays = price * block_tokens
    assert expected_slash_per_corrupted_session(bond, terms) >= terms.deterrence * pays
    assert fully_bonded(bond, price, block_tokens, terms) and bond >= terms.min_bond
    if bond > terms.min_bond:  # the least such bond: one micro-credit less falls short
        assert expected_slash_per_corrupted_session(bond - 1, terms) < terms.deterrence * pays
        assert not fully_bonded(bond - 1, price, block_tokens, terms)


@settings(max_examples=1000, deadline=None)
@given(
    price=st.integers(1, MAX_PRICE),
    block_tokens=st.integers(1, 10**7),
    rate=probabilities,
    detection=probabilities,
    slash_ppm=st.integers(1, PPM),
)
@pytest.mark.slow  # heavy: in the full tier only
def test_with_nothing_in_flight_it_is_the_plain_rule(
    price: int, block_tokens: int, rate: float, detection: float, slash_ppm: int
) -> None:
    """W = 0 and no floor: B is the least bond with r·d·slash(B) >= 10·P, i.e. B ≈ 10·P / (r·d·s)."""
    terms = BondTerms(spot_check_rate=rate, detection=detection, slash_ppm=slash_ppm, sessions_in_flight=0, min_bond=0)
    bond = required_bond(price, block_tokens, terms)
    assert bond is not None
    r, d, s = Fraction(rate), Fraction(detection), Fraction(slash_ppm, PPM)
    pays = price * block_tokens
    assert r * d * slash_amount(bond, slash_ppm) >= 10 * pays > r * d * slash_amount(bond - 1, slash_ppm)
    assert bond >= 10 * pays / (r * d * s)


@settings(max_examples=500, deadline=None)
@given(
    price=st.integers(0, MAX_PRICE),
    more=st.integers(0, 1000),
    block_tokens=st.integers(0, 10**6),
    extra=st.integers(0, 10**6),
    terms=terms_strategy,
)
def test_a_higher_price_or_a_longer_session_never_asks_less(
    price: int, more: int, block_tokens: int, extra: int, terms: BondTerms
) -> None:
    base = required_bond(price, block_tokens, terms)
    assert base is not None
    assert base <= required_bond(price + more, block_tokens, terms)  # type: ignore[operator]
    assert base <= required_bond(price, block_tokens + extra, terms)  # type: ignore[operator]


def test_no_bond_deters_a_cheater_nobody_checks_or_nobody_slashes() -> None:
    never_checked = BondTerms(spot_check_rate=0.0)
    assert required_bond(10, 100, never_checked) is None and not fully_bonded(10**18, 10, 100, never_checked)
    never_slashed = BondTerms(slash_ppm=0)
    assert required_bond(10, 100, never_slashed) is None
    assert required_bond(0, 100, never_checked) == MIN_BOND, "a free server: the least full bond only"


def test_the_worked_example_of_docs_market() -> None:
    """4 blocks, a 2,048-token session at 10 micro-credits per block-token: 0.08192 credits a session."""
    block_tokens = session_block_tokens(4)
    assert block_tokens == 4 * SESSION_TOKENS == 8192
    assert required_bond(10, block_tokens) == 137_625_600  # 137.6256 credits
    plain = BondTerms(sessions_in_flight=0, min_bond=0)
    assert required_bond(10, block_tokens, plain) == 32_768_000  # 10 x P / (r·d·s) = 32.768 credits
    assert required_bond(1, block_tokens) == MIN_BOND, "cheap servers need the least full bond"


@pytest.mark.parametrize("sessions_in_flight", [0, 64])
def test_a_simulated_cheater_loses_what_the_rule_promises(sessions_in_flight: int) -> None:
    """A cheater that corrupts every session until a conviction reaches its clients, over many lifetimes: the
    first slash over the sessions it corrupted is, on average, the rule's expectation (within sampling error)."""
    terms = BondTerms(sessions_in_flight=sessions_in_flight)
    price, block_tokens = 10, session_block_tokens(4)
    bond = required_bond(price, block_tokens, terms)
    assert bond is not None
    rng = random.Random(7)
    slashed = corrupted = 0
    for _ in range(20_000):
        sessions = 1
        while rng.random() >= DEFAULT_BOND_TERMS.spot_check_rate * DEFAULT_BOND_TERMS.detection:
            sessions += 1
        corrupted += sessions + sessions_in_flight  # those already running or started before clients learn
        slashed += slash_amount(bond)
    per_session = slashed / corrupted
    promised = float(expected_slash_per_corrupted_session(bond, terms))
    assert per_session == pytest.approx(promised, rel=0.03)
    assert per_session >= 0.97 * 10 * price * block_tokens


def test_terms_out_of_range_are_refused() -> None:
    for bad in (
        {"spot_check_rate": 1.5},
        {"detection": -0.1},
        {"slash_ppm": PPM + 1},
        {"deterrence": -1},
        {"sessions_in_flight": -1},
    ):
        with pytest.raises(ValueError):
            BondTerms(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        session_block_tokens(-1)
    with pytest.raises(ValueError):
        required_bond(-1, 10)
