"""Liveness bans with exponential back-off, as Petals does: a server that failed is avoided for a while,
twice as long after each further failure, and forgiven after a success."""

from __future__ import annotations

import time
from collections.abc import Callable


class BanList:
    def __init__(self, base_seconds: float, max_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._base = base_seconds
        self._max = max_seconds
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def fail(self, key: str) -> float:
        """Record a failure; returns how many seconds the server is now banned for."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        seconds = float(min(self._max, self._base * 2.0 ** (failures - 1)))
        self._until[key] = self._clock() + seconds
        return seconds

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)
        self._until.pop(key, None)

    def banned(self) -> set[str]:
        now = self._clock()
        return {key for key, until in self._until.items() if until > now}
