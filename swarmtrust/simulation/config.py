"""Simulation scenarios: who cheats how, how many, and how big the swarm and the run are."""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import SwarmtrustError

ADVERSARIES = (
    "cheat:1",  # corrupt every session
    "cheat:0.1",
    "cheat:0.01",
    "honest-then-cheat",  # serve honestly long enough to be trusted, then corrupt every session
    "intermittent",  # alternate honest stretches with stretches corrupting half the sessions
    "whitewash",  # corrupt every session; after a quarantine, come back under a fresh identity
    "sybil",  # a flood of fresh cheating identities a quarter of the way through the run
    "collude",  # cheaters at rate 0.1, and a minority of verifiers that pass them and fail everyone else
)


class ScenarioError(SwarmtrustError):
    """A scenario that cannot be simulated as asked."""


@dataclass(frozen=True)
class SimulationConfig:
    adversary: str = "cheat:1"
    malicious_fraction: float = 0.3  # of the servers (and of the flood, for sybil)
    servers: int = 60
    verifiers: int = 7
    colluding_verifiers: int = 2  # for "collude": a minority of the verifiers
    requests: int = 6000  # client sessions in the run
    steps_per_request: int = 32  # decode steps of one session (serving work counts them)
    check_latency: int = 5  # requests between a spot check being sampled and its outcome being decided
    replay_cost: float = 0.12  # verifier work per checked step relative to serving it (measured: 0.117)
    book_refresh: int = 20  # requests between the clients' refreshes of the reputation book
    capacity: float = 2.0  # sessions a server carries before its step time doubles (spreads the traffic)
    load_decay: float = 0.9  # per request: how fast a server's load fades
    honest_then_cheat_after: int = 60  # sessions served honestly before an honest-then-cheat server turns
    intermittent_period: int = 40  # sessions per honest or cheating stretch of an intermittent server
    whitewash_delay: int = 50  # requests a whitewasher waits before returning under a new identity
    seed: int = 0

    def __post_init__(self) -> None:
        if self.adversary not in ADVERSARIES:
            raise ScenarioError(f"--adversary {self.adversary!r}: one of {', '.join(ADVERSARIES)}")
        if not 0.0 <= self.malicious_fraction < 1.0:
            raise ScenarioError("--malicious-fraction is in [0, 1): some honest servers must exist")
        if self.servers < 4 or self.verifiers < 3 or self.requests < 1:
            raise ScenarioError("at least 4 servers, 3 verifiers and 1 request")
        if self.adversary == "collude" and not 0 < self.colluding_verifiers < self.verifiers / 2:
            raise ScenarioError("colluding verifiers must be a minority of the verifiers")

    @property
    def cheat_rate(self) -> float:
        if self.adversary.startswith("cheat:"):
            return float(self.adversary.split(":")[1])
        return 0.1 if self.adversary == "collude" else 1.0
