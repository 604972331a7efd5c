"""The simulated servers and verifiers: identities, spans, behaviours, and what they did."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ledger.consensus import reliability
from ledger.reputation import ServerReputation
from node.announcements import ServerAnnouncement
from node.client.discovery import ServerInfo

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
    quarantined_at: int | None = None  # request index
    served_at_quarantine: int = 0
    checks_at_quarantine: int = 0
    load: float = 0.0  # recent sessions in progress (decays each request): slows the server down

    def step_seconds(self, blocks: int, capacity: float) -> float:
        """What a client measures for one step here: its speed, slowed by its load (queueing)."""
        base = 1.0 / (self.info.announcement.throughput * (self.end - self.start))
        return base * blocks * (1.0 + self.load / capacity)

    @property
    def malicious(self) -> bool:
        return self.behavior != "honest"

    def corrupts(self, rng: random.Random, params: dict[str, int]) -> bool:
        """Whether the session it is serving now comes back corrupted."""
        b = self.behavior
        if b == "honest":
            return False
        if b == "honest-then-cheat":
            return self.served >= params["after"]
        if b == "intermittent":
            cheating_stretch = (self.served // params["period"]) % 2 == 1
            return cheating_stretch and rng.random() < 0.5
        return rng.random() < self.cheat_rate


@dataclass
class SimVerifier:
    key: str
    colluding: bool = False  # passes malicious servers, fails honest ones
    agreements: int = 0
    disagreements: int = 0

    @property
    def reliability(self) -> float:
        return reliability(self.agreements, self.disagreements)

    def judge(self, server: SimServer, corrupted: bool) -> str:
        if self.colluding:
            return "pass" if server.malicious else "fail"
        return "fail" if corrupted else "pass"


@dataclass
class World:
    rng: random.Random
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
            dtype="float32",
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
        return [s for s in self.servers.values() if not (s.quarantined_at is not None and s.behavior == "whitewash")]
