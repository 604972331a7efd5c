"""Who runs in the demo's swarm: servers over the two halves of ``tiny``, which of them cheat, and how (pure code).

Servers alternate between blocks 0:4 and 4:8, so every block is served at least twice once there are four.
Cheaters alternate between the halves too, and every half keeps at least one honest server, so the swarm can
still serve every block once its cheaters are quarantined. The first cheater corrupts a random 30% of its
steps; the second serves its first steps honestly and then corrupts every step (a turncoat); further
cheaters repeat that pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmtrust.protocol.errors import SwarmtrustError

HALVES = ("0:4", "4:8")
RANDOM_CHEAT = "cheat-rate:0.3"
MIN_SERVERS = 4
MAX_SERVERS = 8
MIN_VERIFIERS = 2
MAX_VERIFIERS = 4


class DemoError(SwarmtrustError):
    """The demo cannot go on; the message says why and what to do."""


class DemoPlanError(DemoError, ValueError):
    """A demo swarm that cannot be run as asked; the message says which flag to change."""


@dataclass(frozen=True)
class PlannedServer:
    name: str
    blocks: str
    behavior: str

    @property
    def honest(self) -> bool:
        return self.behavior == "honest"


@dataclass(frozen=True)
class DemoPlan:
    servers: tuple[PlannedServer, ...]
    verifiers: tuple[str, ...]

    @property
    def cheaters(self) -> tuple[PlannedServer, ...]:
        return tuple(s for s in self.servers if not s.honest)

    def by_name(self, name: str) -> PlannedServer:
        return next(s for s in self.servers if s.name == name)

    def spare_honest(self) -> PlannedServer | None:
        """An honest server whose half keeps another honest server without it (the failover stage kills it)."""
        for half in HALVES:
            honest = [s for s in self.servers if s.blocks == half and s.honest]
            if len(honest) >= 2:
                return honest[0]
        return None


def plan_demo(servers: int, cheaters: int, verifiers: int, honest_steps: int) -> DemoPlan:
    """The demo's swarm; ``honest_steps`` is how long the turncoat behaves before it cheats."""
    if not MIN_SERVERS <= servers <= MAX_SERVERS:
        raise DemoPlanError(f"--servers must be {MIN_SERVERS} to {MAX_SERVERS}: every block is served at least twice")
    if not MIN_VERIFIERS <= verifiers <= MAX_VERIFIERS:
        raise DemoPlanError(f"--verifiers must be {MIN_VERIFIERS} to {MAX_VERIFIERS}: disputes need a second opinion")
    per_half = [len(range(i, servers, 2)) for i in range(len(HALVES))]
    cheats_per_half = [len(range(i, cheaters, 2)) for i in range(len(HALVES))]
    if cheaters < 0 or any(c >= n for c, n in zip(cheats_per_half, per_half, strict=True)):
        most = sum(n - 1 for n in per_half)
        raise DemoPlanError(
            f"--cheaters must be 0 to {most} with {servers} servers: each half of the model keeps an honest server"
        )
    turncoat = f"honest-then-cheat:{honest_steps}"
    planned: list[PlannedServer] = []
    cheats_left = list(cheats_per_half)
    honest_names = iter("abcdefgh")
    for index in range(servers):
        half = index % 2
        if cheats_left[half] > 0:
            cheats_left[half] -= 1
            number = cheaters - sum(cheats_left) - 1  # 0 for the first cheater planned, 1 for the second, ...
            behavior = RANDOM_CHEAT if number % 2 == 0 else turncoat
            name = f"x{number + 1}"
        else:
            behavior = "honest"
            name = next(honest_names)
        planned.append(PlannedServer(name, HALVES[half], behavior))
    return DemoPlan(tuple(planned), tuple(f"v{i + 1}" for i in range(verifiers)))
