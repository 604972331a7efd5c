"""The client's routing policy with reputations: quarantine, trust, exploration, bans."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.ledger.reputation import DEFAULT_PARAMS
from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.chain_search import NoRouteError
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, ServerTrust
from swarmtrust.node.client.route_policy import FULL, SHORT_OF_BOND, Router
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.bond_rule import MIN_BOND, required_bond, session_block_tokens
from swarmtrust.protocol.market_records import MAX_PRICE


def server(name: str, start: int, end: int, throughput: float = 500.0) -> ServerInfo:
    key = name.encode().ljust(32, b"\0")
    return ServerInfo(
        ServerAnnouncement(
            server_key=key,
            peer_id="p",
            name=name,
            model_id="tiny",
            block_start=start,
            block_end=end,
            layer_digests=tuple(bytes(32) for _ in range(start, end)),
            dtype="float32",
            throughput=throughput,
            state="online",
            announced_ms=0,
            expires_ms=10,
        )
    )


TRUSTED = ServerTrust("trusted", Beta(200.0, 1.0), 0.05)
DOUBTFUL = ServerTrust("trusted", Beta(20.0, 6.0), 0.5)
QUARANTINED = ServerTrust("quarantined", Beta(20.0, 30.0), 1.0)
NEWCOMER = ServerTrust("newcomer", Beta(1.6, 0.4), 1.0)


def trusted(bond: int, price: int) -> ServerTrust:
    """A well-checked server whose ledger answer carries its bond and price (micro-credits)."""
    return ServerTrust("trusted", Beta(200.0, 1.0), 0.05, bonded=False, bond=bond, price=price)


def router(book: dict[str, ServerTrust], seed: int = 0, **config: object) -> Router:
    settings = ClientConfig(**config)  # type: ignore[arg-type]
    return Router(
        settings, LatencyTracker(0.3), BanList(1.0, 60.0), ReputationBook(book, NEWCOMER, "test"), random.Random(seed)
    )


def keys(chain: list) -> list[str]:  # type: ignore[type-arg]
    return [hop.candidate.key for hop in chain]


def test_quarantined_servers_are_never_used_even_when_fastest() -> None:
    fast, slow = server("fast", 0, 8, throughput=5000.0), server("slow", 0, 8)
    book = {fast.key: QUARANTINED, slow.key: TRUSTED}
    policy = router(book)
    for _ in range(200):
        assert keys(policy.chain([fast, slow], 0, 8, explore=True)) == [slow.key]
    with pytest.raises(NoRouteError):
        policy.chain([fast], 0, 8, explore=True)


def test_trusted_servers_win_at_equal_speed() -> None:
    trusted, doubtful = server("trusted", 0, 8), server("doubtful", 0, 8)
    policy = router({trusted.key: TRUSTED, doubtful.key: DOUBTFUL})
    picks = [keys(policy.chain([doubtful, trusted], 0, 8, explore=False))[0] for _ in range(500)]
    assert picks.count(trusted.key) > 0.9 * len(picks)
    conservative = router({trusted.key: TRUSTED, doubtful.key: DOUBTFUL}, conservative_routing=True)
    assert {keys(conservative.chain([doubtful, trusted], 0, 8, explore=False))[0] for _ in range(50)} == {trusted.key}


def test_newcomers_share_the_exploration_budget() -> None:
    trusted, fresh = server("trusted", 0, 8, throughput=400.0), server("fresh", 0, 8, throughput=4000.0)
    policy = router({trusted.key: TRUSTED}, exploration=0.05)
    sessions = 4000
    used = sum(
        fresh.key in keys(policy.chain([trusted, fresh], 0, 8, explore=policy.explores())) for _ in range(sessions)
    )
    assert used <= 0.05 * sessions * 1.3, "a fast newcomer gets no more than the exploration budget"
    assert used > 0.01 * sessions, "but it does get explored, as far as its prior lets a Thompson sample win"


def test_the_exploration_budget_shrinks_when_recent_newcomers_cheated() -> None:
    def explored(prior: ServerTrust) -> int:
        book = ReputationBook({}, prior, "test")
        policy = Router(ClientConfig(exploration=0.05), LatencyTracker(0.3), BanList(1.0, 60.0), book, random.Random(1))
        return sum(policy.explores() for _ in range(20_000))

    honest_cohort = explored(ServerTrust("newcomer", Beta.with_mean(DEFAULT_PARAMS.prior_mean_cap, 2.0), 1.0))
    cheating_cohort = explored(ServerTrust("newcomer", Beta.with_mean(DEFAULT_PARAMS.prior_mean_floor, 2.0), 1.0))
    assert 0.04 * 20_000 < honest_cohort < 0.06 * 20_000, "a full budget when newcomers have been honest"
    assert cheating_cohort < 0.5 * honest_cohort, "a third of it when they have been cheating"


def test_newcomers_carry_blocks_nobody_else_covers() -> None:
    trusted, fresh = server("trusted", 0, 4), server("fresh", 4, 8)
    policy = router({trusted.key: TRUSTED})
    assert keys(policy.chain([trusted, fresh], 0, 8, explore=False)) == [trusted.key, fresh.key]


def test_failed_servers_are_banned_with_exponential_back_off() -> None:
    now = [0.0]
    bans = BanList(1.0, 8.0, clock=lambda: now[0])
    assert [bans.fail("s") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert bans.banned() == {"s"}
    now[0] = 8.5
    assert bans.banned() == set()
    bans.fail("s")
    bans.succeed("s")
    assert bans.banned() == set() and bans.fail("s") == 1.0


def test_spot_check_rates_come_from_reputation_unless_forced() -> None:
    trusted = server("trusted", 0, 8)
    assert router({trusted.key: TRUSTED}).spot_check_rate(trusted.key) == 0.05
    assert router({}).spot_check_rate(trusted.key) == 1.0, "a newcomer: every session"
    assert router({trusted.key: TRUSTED}, spot_check_rate=0.5).spot_check_rate(trusted.key) == 0.5


def test_a_server_short_of_the_bond_rule_only_shares_the_exploration_budget() -> None:
    price, span = 10, 8
    needed = required_bond(price, session_block_tokens(span))
    assert needed is not None
    bonded, short = server("bonded", 0, 8, throughput=400.0), server("short", 0, 8, throughput=4000.0)
    book = {bonded.key: trusted(needed, price), short.key: trusted(needed - 1, price)}
    sessions = 2000

    def share(policy: Router) -> float:
        used = sum(
            short.key in keys(policy.chain([bonded, short], 0, 8, explore=policy.explores())) for _ in range(sessions)
        )
        return used / sessions

    assert share(router(book, enforce_bonds=False)) > 0.9, "bonds ignored: the faster server carries the traffic"
    assert share(router(book)) <= 0.05 * 1.3, "enforced by default: no more than the exploration budget"
    assert keys(router(book).chain([short], 0, 8, explore=False)) == [short.key], (
        "still used when nobody else covers the blocks"
    )
    at_the_rule = {bonded.key: trusted(needed, price), short.key: trusted(needed, price)}
    assert share(router(at_the_rule)) > 0.9, "the least bond the rule asks is enough for full weight"


def test_a_server_short_of_bond_is_checked_on_every_session_it_carries() -> None:
    price, span = 10, 8
    needed = required_bond(price, session_block_tokens(span))
    assert needed is not None
    bonded, short = server("bonded", 0, 8), server("short", 0, 8)
    policy = router({bonded.key: trusted(needed, price), short.key: trusted(needed - 1, price)})
    assert policy.spot_check_rate(bonded.key, bonded) == 0.05, "a full bond: the floor rate"
    assert policy.spot_check_rate(short.key, short) == 1.0, "its bond does not deter: every session"
    assert (
        router({short.key: trusted(needed - 1, price)}, enforce_bonds=False).spot_check_rate(short.key, short) == 0.05
    )


def test_a_raised_price_loses_full_routing_at_once() -> None:
    fast, slow = server("fast", 0, 8, throughput=4000.0), server("slow", 0, 8, throughput=400.0)
    needed = required_bond(10, session_block_tokens(8))
    assert needed is not None
    policy = router({fast.key: trusted(needed, 10), slow.key: trusted(needed, 10)})
    assert keys(policy.chain([fast, slow], 0, 8, explore=False)) == [fast.key]
    raised = router({fast.key: trusted(needed, 11), slow.key: trusted(needed, 10)})
    assert {keys(raised.chain([fast, slow], 0, 8, explore=False))[0] for _ in range(50)} == {slow.key}


def test_the_required_bond_follows_the_session_length_and_the_span() -> None:
    price = 1_000
    needed = required_bond(price, session_block_tokens(4, 100))
    assert needed is not None and needed > MIN_BOND
    quarter = server("quarter", 0, 4)
    policy = router({quarter.key: trusted(needed, price)})
    assert policy.standing(quarter, session_tokens=100) == FULL
    assert policy.standing(quarter, session_tokens=101) == SHORT_OF_BOND, "a longer session can pay more"
    whole = server("whole", 0, 8)
    assert router({whole.key: trusted(needed, price)}).standing(whole, session_tokens=100) == SHORT_OF_BOND
    assert router({quarter.key: trusted(needed, price)}, bond_session_tokens=100).standing(quarter) == FULL


def test_a_client_that_checks_less_than_the_floor_asks_more_bond() -> None:
    s = server("s", 0, 8)
    needed = required_bond(10, session_block_tokens(8))
    assert needed is not None
    book = {s.key: trusted(needed, 10)}
    assert router(book).standing(s) == FULL
    assert router(book, spot_check_rate=1.0).standing(s) == FULL, "checking more never asks less of the rule"
    assert router(book, spot_check_rate=0.01).standing(s) == SHORT_OF_BOND
    assert router(book, spot_check_rate=0.0).standing(s) == SHORT_OF_BOND, "never checking: no bond deters"


def test_servers_short_of_bond_come_before_newcomers_when_needed() -> None:
    short, fresh = server("short", 0, 8, throughput=400.0), server("fresh", 0, 8, throughput=4000.0)
    policy = router({short.key: trusted(0, 10)})
    assert {keys(policy.chain([short, fresh], 0, 8, explore=False))[0] for _ in range(50)} == {short.key}


def test_a_ledger_that_gives_no_bond_and_price_is_judged_by_its_bonded_flag() -> None:
    s = server("s", 0, 8)
    assert router({s.key: ServerTrust("trusted", Beta(200.0, 1.0), 0.05, bonded=False)}).standing(s) == SHORT_OF_BOND
    assert router({s.key: TRUSTED}).standing(s) == FULL


@settings(max_examples=300, deadline=None)
@given(
    price=st.integers(0, MAX_PRICE),
    bond=st.integers(0, 10**15),
    span=st.integers(1, 80),
    tokens=st.integers(1, 8192),
    explore=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_a_server_short_of_bond_never_carries_a_session_that_has_a_fully_bonded_route(
    price: int, bond: int, span: int, tokens: int, explore: bool, seed: int
) -> None:
    """Whatever bond and price a server posts: if the rule finds its bond short, no session outside the
    exploration budget goes through it while a fully bonded server covers the blocks, however fast it is."""
    needed = required_bond(price, session_block_tokens(span, tokens))
    assert needed is not None
    candidate, honest = server("candidate", 0, span, throughput=1e6), server("honest", 0, span, throughput=1.0)
    book = {candidate.key: trusted(bond, price), honest.key: trusted(needed, price)}
    policy = router(book, seed=seed, bond_session_tokens=tokens)
    used = candidate.key in keys(policy.chain([candidate, honest], 0, span, explore=explore))
    if bond < needed and not explore:
        assert not used, f"a bond of {bond} < {needed} at price {price} carried a session"
    assert policy.standing(candidate) == (FULL if bond >= needed else SHORT_OF_BOND)
