from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.chain_search import Candidate, NoRouteError, choose_chain, step_cost


def candidate(key: str, start: int, end: int, per_block: float = 0.001, hop: float = 0.001) -> Candidate:
    return Candidate(key, start, end, per_block, hop)


def test_the_obvious_chain() -> None:
    chain = choose_chain([candidate("a", 0, 4), candidate("b", 4, 8)], 0, 8)
    assert [(h.candidate.key, h.start, h.end) for h in chain] == [("a", 0, 4), ("b", 4, 8)]


def test_fewer_hops_win_at_equal_speed_and_faster_servers_win_otherwise() -> None:
    servers = [candidate("a", 0, 4), candidate("b", 4, 8), candidate("whole", 0, 8)]
    assert [h.candidate.key for h in choose_chain(servers, 0, 8)] == ["whole"]
    slow_whole = [*servers[:2], candidate("whole", 0, 8, per_block=0.01)]
    assert [h.candidate.key for h in choose_chain(slow_whole, 0, 8)] == ["a", "b"]


def test_overlapping_spans_are_used_in_part() -> None:
    chain = choose_chain([candidate("a", 0, 5), candidate("b", 3, 8)], 0, 8)
    assert chain[0].start == 0 and chain[-1].end == 8
    assert all(h.candidate.start <= h.start < h.end <= h.candidate.end for h in chain)
    assert [h.end for h in chain][:-1] == [h.start for h in chain][1:]


def test_excluded_servers_are_never_used_and_gaps_are_named() -> None:
    servers = [candidate("a", 0, 4), candidate("b", 4, 8), candidate("c", 0, 4)]
    assert [h.candidate.key for h in choose_chain(servers, 0, 8, exclude={"a"})] == ["c", "b"]
    with pytest.raises(NoRouteError, match="block 4"):
        choose_chain(servers, 0, 8, exclude={"b"})
    with pytest.raises(NoRouteError, match="block 0"):
        choose_chain([], 0, 8)


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 11), st.integers(1, 6), st.floats(1e-4, 1e-1)), min_size=1, max_size=12))
def test_a_found_chain_covers_the_blocks_with_the_least_cost(spans: list[tuple[int, int, float]]) -> None:
    servers = [candidate(str(i), s, min(s + n, 12), per_block=p) for i, (s, n, p) in enumerate(spans)]
    try:
        chain = choose_chain(servers, 0, 12)
    except NoRouteError:
        covered = {b for c in servers for b in range(c.start, c.end)}
        assert covered != set(range(12))
        return
    assert chain[0].start == 0 and chain[-1].end == 12
    assert all(a.end == b.start for a, b in itertools.pairwise(chain))
    cost = sum(step_cost(h.candidate, h.end - h.start) for h in chain)
    # No single server that covers everything could have been cheaper.
    for c in servers:
        if c.start == 0 and c.end == 12:
            assert cost <= step_cost(c, 12) + 1e-12


def brute_force_cost(servers: list[Candidate], start: int, end: int) -> float:
    """Reference: the least cost by plain dynamic programming over every sub-span of every server."""
    best = {start: 0.0}
    for boundary in range(start + 1, end + 1):
        options = [
            best[i] + step_cost(c, boundary - i)
            for c in servers
            for i in range(max(c.start, start), boundary)
            if c.end >= boundary and i in best
        ]
        if options:
            best[boundary] = min(options)
    return best.get(end, float("inf"))


@settings(max_examples=300, deadline=None)
@given(
    spans=st.lists(
        st.tuples(st.integers(0, 9), st.integers(1, 6), st.floats(1e-4, 1e-1), st.floats(0, 1e-1), st.floats(0, 0.05)),
        min_size=1,
        max_size=10,
    )
)
def test_the_sweep_finds_the_same_least_cost_as_brute_force(spans: list[tuple[int, int, float, float, float]]) -> None:
    servers = [Candidate(str(i), s, min(s + n, 10), p, hop, risk) for i, (s, n, p, hop, risk) in enumerate(spans)]
    reference = brute_force_cost(servers, 0, 10)
    try:
        chain = choose_chain(servers, 0, 10)
    except NoRouteError:
        assert reference == float("inf")
        return
    cost = sum(step_cost(h.candidate, h.end - h.start) for h in chain)
    assert abs(cost - reference) <= 1e-9 * max(1.0, reference)


def test_risk_steers_towards_trusted_servers_at_equal_speed() -> None:
    trusted = Candidate("trusted", 0, 8, 0.001, 0.001, risk_per_block=0.0001)
    doubtful = Candidate("doubtful", 0, 8, 0.001, 0.001, risk_per_block=0.01)
    assert [h.candidate.key for h in choose_chain([doubtful, trusted], 0, 8)] == ["trusted"]
