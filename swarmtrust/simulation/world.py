"""The simulated servers and verifiers: identities, spans, behaviours, what a check's evidence shows, and what
they did."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from swarmtrust.ledger.consensus import reliability
from swarmtrust.ledger.reputation import ServerReputation
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.digests import dtype_named

BLOCKS = 8
SPANS = ((0, 4), (4, 8), (0, 8))


@dataclass
class SimServer:
    key: str
    start: int
    end: int
    behavior: str  # honest, or the scenario's adversary
    cheat_rate: float
    joined_at: int  # request index
    info: ServerInfo
    reputation: ServerReputation | None = None  # None until its first decided check
    served: int = 0  # sessions served
    checks: int = 0  # decided checks
    corrupted_checks: int = 0  # ... of them, of corrupted sessions
    corrupted_served: int = 0  # corrupted sessions it answered
    quarantined_at: int | None = None  # request index
    served_at_quarantine: int = 0
    checks_at_quarantine: int = 0
    corrupted_checks_at_quarantine: int = 0
    corrupted_at_quarantine: int = 0
    load: float = 0.0  # recent sessions in progress (decays each request): slows the server down

    def step_seconds(self, blocks: int, capacity: float) -> float:
        """What a client measures for one step here: its speed, slowed by its load (queueing)."""
        base = 1.0 / (self.info.announcement.throughput * (self.end - self.start))
        return base * blocks * (1.0 + self.load / capacity)

    @property
    def malicious(self) -> bool:
        return self.behavior != "honest"

    def corrupts(self, rng: random.Random, tactics: Tactics) -> bool:
        """Whether the session it is serving now comes back corrupted. Nobody can see an audit coming (the
        coins are drawn after the verdict), so a cheater's choice depends only on what it served and its own
        standing on the ledger."""
        b = self.behavior
        if b == "honest":
            return False
        if b == "honest-then-cheat":
            return self.served >= tactics.after
        if b == "intermittent":
            cheating_stretch = (self.served // tactics.period) % 2 == 1
            return cheating_stretch and rng.random() < 0.5
        if b == "collude":  # honest while every session is checked, then at its tuned rate
            trusted = self.reputation is not None and self.reputation.state() == "trusted"
            return trusted and rng.random() < self.cheat_rate
        return rng.random() < self.cheat_rate

    @property
    def returns(self) -> bool:
        """Whether it comes back under a fresh identity once quarantined."""
        return self.behavior in ("whitewash", "collude")


@dataclass(frozen=True)
class Tactics:
    after: int  # honest-then-cheat: sessions served honestly first
    period: int  # intermittent: sessions per stretch


@dataclass(frozen=True)
class Evidence:
    """What replaying one checked session shows: the same to every verifier, apart from independent errors."""

    server: SimServer
    shows_corruption: bool  # a corrupted step exceeds the thresholds: every replay fails it
    false_alarm: float  # chance that one replay fails it anyway (1.0: the false alarm is in the evidence)


VERIFIER_KINDS = ("honest", "colluding", "framing")


@dataclass
class SimVerifier:
    key: str
    # honest; colluding: passes its partners (the malicious servers) and judges everyone else honestly;
    # framing: passes its partners and fails everyone else
    kind: str = "honest"
    agreements: int = 0
    disagreements: int = 0
    first_looks: int = 0  # challenges it was the first verifier of

    @property
    def reliability(self) -> float:
        return reliability(self.agreements, self.disagreements)

    @property
    def colluding(self) -> bool:
        return self.kind != "honest"

    def judge(self, evidence: Evidence, rng: random.Random) -> str:
        if self.colluding and evidence.server.malicious:
            return "pass"
        if self.kind == "framing":
            return "fail"
        if evidence.shows_corruption:
            return "fail"
        return "fail" if rng.random() < evidence.false_alarm else "pass"


@dataclass
class World:
    rng: random.Random
    dtype: str = "float32"  # announced by every server
    servers: dict[str, SimServer] = field(default_factory=dict)
    verifiers: list[SimVerifier] = field(default_factory=list)

    def new_key(self) -> str:
        return self.rng.getrandbits(256).to_bytes(32, "little").hex()

    def add_server(self, behavior: str, cheat_rate: float, at: int, span: tuple[int, int] | None = None) -> SimServer:
        key = self.new_key()
        start, end = span or self.rng.choice(SPANS)
        announcement = ServerAnnouncement(
            server_key=bytes.fromhex(key),
            peer_id="simulated",
            name=f"sim-{len(self.servers)}",
            model_id="tiny",
            block_start=start,
            block_end=end,
            layer_digests=tuple(bytes(32) for _ in range(start, end)),
            dtype=dtype_named(self.dtype),
            throughput=self.rng.uniform(400.0, 600.0),  # servers differ a little in speed
            state="online",
            announced_ms=0,
            expires_ms=2**40,
        )
        server = SimServer(key, start, end, behavior, cheat_rate, at, ServerInfo(announcement))
        self.servers[key] = server
        return server

    def active(self) -> list[SimServer]:
        """Servers in the swarm: a quarantined whitewasher has left (and comes back as someone new)."""
        return [s for s in self.servers.values() if not (s.quarantined_at is not None and s.returns)]
