"""Simulation scenarios: who cheats how, how many, how big the swarm and the run are, and what one check of a
session can see (the measured detection table)."""

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
    # Colluding verifiers that pass their partners and judge everyone else honestly (framing would expose
    # them), with cheaters that serve honestly until trusted, then cheat at a rate tuned to the floor
    # spot-check rate and the colluders' share of checks, and whitewash when caught.
    "collude",
    "collude-frame",  # cheaters at rate 0.1, and colluding verifiers that pass them and fail everyone else
)

# Per-step detection measured on the `tiny` model: affected steps that fail at the shipped thresholds, out of
# those compared (docs/verification.md, "Results on the `tiny` model (CPU)": `swarmtrust verifier calibrate
# --comparisons 200000`, seed 0, 300 honest sessions re-served by each adversary). bfloat16: only the
# per-step figures (a pooled per-session statistic is not built yet).
DETECTION_SOURCE = "docs/verification.md, Results on the tiny model (verifier calibrate --comparisons 200000, seed 0)"
STEP_DETECTION: dict[str, dict[str, tuple[int, int]]] = {
    "float32": {
        "noise:0.001": (6463, 6463),
        "noise:0.003": (6463, 6463),
        "noise:0.01": (6463, 6463),  # what cheat-rate and honest-then-cheat servers add to a corrupted step
        "skip-layers": (6463, 6463),
        "wrong-weights": (6463, 6463),
    },
    "bfloat16": {
        "noise:0.001": (0, 6463),
        "noise:0.003": (0, 6463),
        "noise:0.01": (0, 6463),
        "skip-layers": (6463, 6463),
        "wrong-weights": (2, 6463),
    },
}
# Honest steps that failed, of the held-out comparisons the thresholds never saw.
STEP_FALSE_POSITIVES: dict[str, tuple[int, int]] = {"float32": (0, 100_007), "bfloat16": (0, 100_007)}
DTYPES = tuple(STEP_DETECTION)
CORRUPTIONS = tuple(STEP_DETECTION["float32"])
FALSE_POSITIVE_SCOPES = ("session", "verifier")
FIRST_ASSIGNMENTS = ("draw", "first-come")


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
    dtype: str = "float32"  # the swarm's dtype: which row of STEP_DETECTION applies
    corruption: str = "noise:0.01"  # what a cheater does to a corrupted step (a column of STEP_DETECTION)
    corrupted_steps: int | None = None  # steps a corrupted session corrupts (None: all of them)
    compared_steps: int | None = None  # steps of a session one check compares (None: all; less: evidence budget)
    # Per honest step, the chance a replay fails it (None: the measured rate, 0 in 100,007).
    false_positive_rate: float | None = None
    # "session": a false alarm is in the evidence, so every verifier replaying it sees it (the replay is
    # deterministic); "verifier": each replay errs independently.
    false_positive_scope: str = "session"
    # "draw": the first verifier of a challenge is drawn by reliability; "first-come": whoever polls first,
    # which colluders (polling colluder_poll_speedup times as often as the others) mostly are.
    first_assignment: str = "draw"
    colluder_poll_speedup: float = 10.0
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
        if self.colluding and not 0 < self.colluding_verifiers < self.verifiers / 2:
            raise ScenarioError("colluding verifiers must be a minority of the verifiers")
        if self.dtype not in STEP_DETECTION:
            raise ScenarioError(f"--dtype {self.dtype!r}: one of {', '.join(DTYPES)}")
        if self.corruption not in CORRUPTIONS:
            raise ScenarioError(f"--corruption {self.corruption!r}: one of {', '.join(CORRUPTIONS)}")
        for name in ("corrupted_steps", "compared_steps"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= self.steps_per_request:
                raise ScenarioError(f"{name} is between 1 and steps_per_request ({self.steps_per_request})")
        if self.false_positive_rate is not None and not 0.0 <= self.false_positive_rate < 1.0:
            raise ScenarioError("--false-positive-rate is a per-step probability in [0, 1)")
        if self.false_positive_scope not in FALSE_POSITIVE_SCOPES:
            raise ScenarioError(f"--false-positive-scope: one of {', '.join(FALSE_POSITIVE_SCOPES)}")
        if self.first_assignment not in FIRST_ASSIGNMENTS:
            raise ScenarioError(f"--first-assignment: one of {', '.join(FIRST_ASSIGNMENTS)}")
        if self.colluder_poll_speedup < 1.0:
            raise ScenarioError("colluders poll at least as often as everyone else (speedup ≥ 1)")

    @property
    def colluding(self) -> bool:
        return self.adversary.startswith("collude")

    @property
    def cheat_rate(self) -> float:
        """The share of sessions a cheater corrupts (``collude`` tunes its own: see ``engine``)."""
        if self.adversary.startswith("cheat:"):
            return float(self.adversary.split(":")[1])
        return 0.1 if self.adversary == "collude-frame" else 1.0

    @property
    def step_detection(self) -> float:
        """Chance that one compared corrupted step fails at the thresholds (measured, this dtype)."""
        caught, compared = STEP_DETECTION[self.dtype][self.corruption]
        return caught / compared

    @property
    def step_false_positive_rate(self) -> float:
        if self.false_positive_rate is not None:
            return self.false_positive_rate
        failed, compared = STEP_FALSE_POSITIVES[self.dtype]
        return failed / compared
