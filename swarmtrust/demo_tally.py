"""What the demo's traffic did, tallied as it happens (pure code): sessions and steps per server, when each
server was first seen quarantined, and every server's share of the sessions before the first quarantine and
after the last one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Quarantine:
    seconds: float  # since the traffic began
    sessions: int  # sessions through the server until then
    steps: int  # steps it served until then


@dataclass
class TrafficTally:
    started: float  # the clock's reading when the traffic began
    sessions: int = 0
    failed: int = 0  # sessions that could not finish (not tallied otherwise)
    by_server: Counter[str] = field(default_factory=Counter)  # sessions through each server
    steps: Counter[str] = field(default_factory=Counter)  # steps each server served
    quarantined: dict[str, Quarantine] = field(default_factory=dict)
    _log: list[tuple[float, frozenset[str]]] = field(default_factory=list)  # (time, servers) of every session

    def session(self, now: float, steps_by_server: Mapping[str, int]) -> None:
        """One finished session and the steps each server of its route served (failed-over ones included)."""
        self.sessions += 1
        self.by_server.update(steps_by_server.keys())
        self.steps.update(steps_by_server)
        self._log.append((now, frozenset(steps_by_server)))

    def states(self, now: float, states: Mapping[str, str]) -> list[str]:
        """The ledger's state of each server now; the servers newly seen quarantined."""
        new = [key for key, state in states.items() if state == "quarantined" and key not in self.quarantined]
        for key in new:
            self.quarantined[key] = Quarantine(now - self.started, self.by_server[key], self.steps[key])
        return new

    def sessions_since(self, moment: float) -> int:
        return sum(t > moment for t, _ in self._log)

    def done(self, watched: Collection[str], sessions_after: int) -> bool:
        """Every one of ``watched`` quarantined, and ``sessions_after`` sessions since the last of them was."""
        if not watched or not set(watched) <= self.quarantined.keys():
            return False
        last = max(self.quarantined[k].seconds for k in watched) + self.started
        return self.sessions_since(last) >= sessions_after

    def shares(self, servers: Iterable[str], watched: Collection[str]) -> dict[str, tuple[float | None, float | None]]:
        """Each server's share of the sessions before the first of ``watched`` was quarantined, and after the
        last of them was (None where no session fell in that window). ``watched``: the servers whose
        quarantine divides the traffic, usually the cheaters; all sessions are "before" while one is free."""
        times = [self.quarantined[k].seconds + self.started for k in watched if k in self.quarantined]
        everyone_caught = bool(times) and len(times) == len(set(watched))
        first = min(times) if times else float("inf")
        last = max(times) if everyone_caught else float("inf")
        before = [route for t, route in self._log if t < first]
        after = [route for t, route in self._log if t > last]
        return {key: (_share(key, before), _share(key, after)) for key in servers}


def _share(key: str, routes: list[frozenset[str]]) -> float | None:
    if not routes:
        return None
    return sum(key in route for route in routes) / len(routes)
