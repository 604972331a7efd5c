"""The adversary simulation: reproducible, and the properties its report must show even on short runs."""

from __future__ import annotations

import pytest

from swarmtrust.simulation.config import ScenarioError, SimulationConfig
from swarmtrust.simulation.engine import simulate


def run(adversary: str, fraction: float = 0.3, requests: int = 1500, seed: int = 1) -> dict:  # type: ignore[type-arg]
    return simulate(SimulationConfig(adversary=adversary, malicious_fraction=fraction, requests=requests, seed=seed))


def test_a_fixed_seed_reproduces_the_run() -> None:
    assert run("cheat:0.1") == run("cheat:0.1")
    assert run("cheat:0.1", seed=2) != run("cheat:0.1")


@pytest.mark.parametrize("adversary", ["cheat:1", "cheat:0.1", "collude", "honest-then-cheat"])
def test_honest_servers_are_never_quarantined(adversary: str) -> None:
    for fraction in (0.3, 0.7):
        assert run(adversary, fraction)["honest_false_quarantines"] == 0


def test_a_full_cheater_is_quarantined_at_its_first_check() -> None:
    report = run("cheat:1", 0.5)
    assert report["malicious_quarantined"] > 0
    assert report["max_checks_to_quarantine"] == 1


def test_floods_get_no_more_than_the_exploration_budget() -> None:
    for adversary in ("sybil", "whitewash"):
        report = run(adversary, 0.5, requests=2000)
        assert report["flood_traffic_share"] <= 1.5 * report["exploration_budget"], report


def test_verification_stays_a_small_share_of_serving() -> None:
    assert run("cheat:0.01", 0.1, requests=2000)["steady_state_verification_overhead"] < 0.10


def test_scenarios_are_validated() -> None:
    with pytest.raises(ScenarioError, match="--adversary"):
        SimulationConfig(adversary="bribe")
    with pytest.raises(ScenarioError, match="some honest servers"):
        SimulationConfig(malicious_fraction=1.0)
    with pytest.raises(ScenarioError, match="minority"):
        SimulationConfig(adversary="collude", verifiers=4, colluding_verifiers=2)
