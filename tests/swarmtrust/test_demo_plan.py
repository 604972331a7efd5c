"""The demo's swarm plan and its traffic tally (pure code)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from swarmtrust.demo import demo_succeeded
from swarmtrust.demo_plan import HALVES, DemoPlanError, plan_demo
from swarmtrust.demo_tally import TrafficTally
from swarmtrust.demo_traffic import first_contact


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


def test_the_traffic_is_done_once_every_cheater_is_caught_and_sessions_ran_since() -> None:
    tally = TrafficTally(started=0.0)
    assert not tally.done([], 1)  # no cheaters: the traffic runs its whole duration
    tally.session(1.0, {"x": 1})
    tally.states(2.0, {"x": "quarantined"})
    assert not tally.done(["x", "y"], 1)  # y is free
    assert not tally.done(["x"], 1)
    tally.session(3.0, {"a": 1})
    assert tally.done(["x"], 1) and not tally.done(["x"], 2)


def _report(**changes: Any) -> dict[str, Any]:
    """A report of a demo in which everything went right; ``changes`` spoil it."""
    report: dict[str, Any] = {
        "cheaters": ["x"],
        "quarantined": ["x"],
        "honest_quarantined": 0,
        "credits_slashed": 50,
        "servers": {
            "x1": {"public_key": "x", "share_after": 0.0},
            "a": {"public_key": "a", "share_after": 1.0},
        },
        "failover": {"tokens_match_local": True},
        "dashboard_shows_cheaters_quarantined": True,
        "refused": ["bad_signature", "conflict"],
        "merkle_proof_ok": True,
        "audit_clean": True,
        "tampering_caught": True,
        "rewrite_caught": True,
        "unbond": {"server": "a", "before_window": "bond_locked", "after_window": "accepted"},
    }
    return report | changes


@pytest.mark.parametrize(
    "spoiled",
    [
        {"quarantined": []},
        {"honest_quarantined": 1},
        {"credits_slashed": 0},
        {"servers": {"x1": {"public_key": "x", "share_after": 0.25}}},
        {"failover": {"tokens_match_local": False}},
        {"dashboard_shows_cheaters_quarantined": False},
        {"refused": ["bad_signature"]},
        {"merkle_proof_ok": False},
        {"audit_clean": False},
        {"tampering_caught": False},
        {"rewrite_caught": False},
        {"unbond": {"server": "a", "before_window": "accepted"}},
    ],
)
def test_the_demo_fails_when_any_of_its_checks_fails(spoiled: dict[str, Any]) -> None:
    assert demo_succeeded(_report())
    assert not demo_succeeded(_report(**spoiled))


def test_no_failover_stage_and_no_cheaters_can_still_succeed() -> None:
    report = _report(cheaters=[], quarantined=[], credits_slashed=0, failover=None)
    assert demo_succeeded(report)


def test_first_contact_routes_cover_every_server_with_one_server_per_span() -> None:
    servers = [SimpleNamespace(key=k, start=s, end=e) for k, s, e in [("b", 4, 8), ("a", 0, 4), ("c", 0, 4)]]
    routes = first_contact(servers)
    assert [[s.key for s in route] for route in routes] == [["a", "b"], ["c", "b"]]
    assert first_contact([]) == []
