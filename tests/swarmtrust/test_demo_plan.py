"""The demo's swarm plan and its traffic tally (pure code)."""

from __future__ import annotations

import pytest

from swarmtrust.demo_plan import HALVES, DemoPlanError, plan_demo
from swarmtrust.demo_tally import TrafficTally


@pytest.mark.parametrize(("servers", "cheaters"), [(4, 0), (4, 2), (5, 2), (6, 2), (6, 3), (8, 6)])
def test_every_block_is_served_twice_and_every_half_keeps_an_honest_server(servers: int, cheaters: int) -> None:
    plan = plan_demo(servers, cheaters, 3, honest_steps=50)
    assert len(plan.servers) == servers and len(plan.cheaters) == cheaters
    assert len({s.name for s in plan.servers}) == servers
    for half in HALVES:
        assert sum(s.blocks == half for s in plan.servers) >= 2
        assert any(s.honest for s in plan.servers if s.blocks == half)


def test_the_first_cheater_cheats_at_random_and_the_second_turns_later() -> None:
    behaviors = [s.behavior for s in plan_demo(6, 3, 3, honest_steps=50).cheaters]
    assert behaviors == ["cheat-rate:0.3", "honest-then-cheat:50", "cheat-rate:0.3"]


def test_a_spare_honest_server_exists_only_where_a_half_has_two() -> None:
    assert plan_demo(4, 2, 3, 50).spare_honest() is None
    spare = plan_demo(5, 2, 3, 50).spare_honest()
    assert spare is not None and spare.honest


@pytest.mark.parametrize(
    ("servers", "cheaters", "verifiers", "flag"),
    [
        (3, 0, 3, "--servers"),
        (9, 0, 3, "--servers"),
        (4, 3, 3, "--cheaters"),
        (5, -1, 3, "--cheaters"),
        (5, 2, 1, "--verifiers"),
    ],
)
def test_a_swarm_that_cannot_work_is_refused_naming_the_flag(
    servers: int, cheaters: int, verifiers: int, flag: str
) -> None:
    with pytest.raises(DemoPlanError, match=flag):
        plan_demo(servers, cheaters, verifiers, 50)


def test_the_tally_counts_sessions_until_quarantine_and_shares_before_and_after() -> None:
    tally = TrafficTally(started=100.0)
    tally.session(101.0, {"x": 3, "a": 3})
    tally.session(102.0, {"b": 3, "a": 3})
    assert tally.states(103.0, {"x": "quarantined", "a": "trusted", "b": "newcomer"}) == ["x"]
    assert tally.states(104.0, {"x": "quarantined"}) == []  # seen once
    tally.session(105.0, {"b": 3, "a": 3})
    caught = tally.quarantined["x"]
    assert (caught.seconds, caught.sessions, caught.steps) == (3.0, 1, 3)
    shares = tally.shares(["x", "a", "b"], ["x"])
    assert shares == {"x": (0.5, 0.0), "a": (1.0, 1.0), "b": (0.5, 1.0)}
    assert tally.sessions_since(103.0) == 1


def test_no_after_share_while_a_watched_server_is_free() -> None:
    tally = TrafficTally(started=0.0)
    tally.session(1.0, {"x": 1})
    tally.states(2.0, {"x": "quarantined"})
    tally.session(3.0, {"a": 1})
    assert tally.shares(["a"], ["x", "y"]) == {"a": (0.0, None)}  # y never caught: no "after" window
