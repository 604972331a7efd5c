"""Choosing blocks with ``--num-blocks``: the thinnest window, a swarm filled in turn covers every block, and a
server moves only for a clear gain (hypothesis over swarms)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmtrust.node.server.span_choice import (
    REBALANCE_GAIN,
    Holder,
    better_start,
    coverage,
    thinnest_start,
    weakest_with,
)


def test_an_empty_swarm_is_filled_in_turn_until_every_block_is_held() -> None:
    holders: list[Holder] = []
    for _ in range(3):  # three servers of 3 blocks over tiny's 8, each choosing after the last announced
        start = thinnest_start(coverage(holders, 8), 3)
        holders.append(Holder(start, start + 3, 1.0))
    assert [h.start for h in holders] == [0, 3, 5]
    assert min(coverage(holders, 8)) > 0


def test_throughput_and_trust_weigh_in() -> None:
    strong, weak = Holder(0, 4, 10.0), Holder(4, 8, 1.0)
    assert thinnest_start(coverage([strong, weak], 8), 4) == 4, "the weakly held half is thinner"


swarms = st.integers(2, 12).flatmap(
    lambda blocks: st.tuples(
        st.just(blocks),
        st.lists(
            st.tuples(st.integers(0, blocks - 1), st.integers(1, blocks), st.floats(0.1, 100)).map(
                lambda t: Holder(t[0], min(blocks, t[0] + t[1]), t[2])
            ),
            max_size=8,
        ),
        st.integers(1, blocks),
    )
)


@given(swarms)
def test_the_chosen_window_is_at_least_as_thin_as_any_other(swarm: tuple[int, list[Holder], int]) -> None:
    blocks, holders, length = swarm
    cover = coverage(holders, blocks)
    start = thinnest_start(cover, length)
    assert 0 <= start <= blocks - length
    chosen = min(cover[start : start + length])
    assert all(chosen <= min(cover[s : s + length]) for s in range(blocks - length + 1))


@given(swarms, st.floats(0.1, 100), st.data())
def test_a_move_raises_the_weakest_block_by_the_gain_and_never_lowers_it(
    swarm: tuple[int, list[Holder], int], weight: float, data: st.DataObject
) -> None:
    blocks, holders, length = swarm
    others = coverage(holders, blocks)
    current = data.draw(st.integers(0, blocks - length))
    moved = better_start(others, current, length, weight)
    if moved is not None:
        now, after = weakest_with(others, current, length, weight), weakest_with(others, moved, length, weight)
        assert after > now * REBALANCE_GAIN and after >= now
        assert better_start(others, moved, length, weight) is None, "no move straight back: no oscillation"


def test_a_window_longer_than_the_model_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        thinnest_start([0.0] * 4, 5)
