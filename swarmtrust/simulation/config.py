"""Simulation scenarios: who cheats how, how many, how big the swarm and the run are, and the calibration whose
measured rates say what one check of a session finds (``detection_table``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmtrust.simulation.detection_table import DetectionTable, Measured, shipped_table
from swarmtrust.simulation.errors import ScenarioError

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

FALSE_POSITIVE_SCOPES = ("session", "verifier")
FIRST_ASSIGNMENTS = ("draw", "first-come")


@dataclass(frozen=True)
class SimulationConfig:
    adversary: str = "cheat:1"
    malicious_fraction: float = 0.3  # of the servers (and of the flood, for sybil)
    servers: int = 60
    verifiers: int = 7
    colluding_verifiers: int = 2  # for "collude": a minority of the verifiers
    requests: int = 6000  # client sessions in the run
    steps_per_request: int = 32  # decode steps of one session (serving work counts them)
    dtype: str = "float32"  # the swarm's dtype: a dtype the calibration holds
    corruption: str = "noise:0.01"  # what a cheater does to a corrupted step: an adversary the calibration measured
    corrupted_steps: int | None = None  # steps a corrupted session corrupts (None: all of them)
    compared_steps: int | None = None  # steps of a session one check compares (None: all; less: evidence budget)
    # Per honest session checked, the chance a replay fails it (None: the calibration's held-out rate).
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
    # The measured rates (``detection_table``): the shipped calibration unless another is given.
    detection: DetectionTable = field(default_factory=shipped_table, repr=False)

    def __post_init__(self) -> None:
        if self.adversary not in ADVERSARIES:
            raise ScenarioError(f"--adversary {self.adversary!r}: one of {', '.join(ADVERSARIES)}")
        if not 0.0 <= self.malicious_fraction < 1.0:
            raise ScenarioError("--malicious-fraction is in [0, 1): some honest servers must exist")
        if self.servers < 4 or self.verifiers < 3 or self.requests < 1:
            raise ScenarioError("at least 4 servers, 3 verifiers and 1 request")
        if self.colluding and not 0 < self.colluding_verifiers < self.verifiers / 2:
            raise ScenarioError("colluding verifiers must be a minority of the verifiers")
        self.detection.detection(self.dtype, self.corruption)  # ScenarioError: not measured
        for name in ("corrupted_steps", "compared_steps"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= self.steps_per_request:
                raise ScenarioError(f"{name} is between 1 and steps_per_request ({self.steps_per_request})")
        if self.false_positive_rate is not None and not 0.0 <= self.false_positive_rate < 1.0:
            raise ScenarioError("--false-positive-rate is a per-session probability in [0, 1)")
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
    def measured_detection(self) -> Measured:
        """Sessions corrupted on every step that calibration saw caught, in this dtype, by this corruption."""
        return self.detection.detection(self.dtype, self.corruption)

    @property
    def session_false_positive_rate(self) -> float:
        """Per honest session checked, the chance a replay fails it: as given, else as measured held out (0 when
        none failed: the measured count says how little that rests on)."""
        if self.false_positive_rate is not None:
            return self.false_positive_rate
        return self.detection.false_positives(self.dtype).rate
