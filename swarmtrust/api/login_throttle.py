"""Throttling the dashboard's login form per client address: a few wrong tokens, then a pause.

A token of 16 characters or more cannot be guessed online anyway; the throttle keeps a guesser from
even trying at speed, and from filling the log. It is per process and in memory (a pause, not a ban):
after ``max_failures`` wrong tokens from one address within ``window_seconds``, that address is refused
(429 with Retry-After) until the oldest of them leaves the window, whatever it sends, the right token
included. A right token clears the address's record.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 5  # wrong tokens per address within the window before it must wait
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000  # addresses remembered at most; the longest quiet ones are forgotten first


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        *,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0 or max_addresses < 1:
            raise ValueError("a login throttle needs max_failures >= 1, window_seconds > 0 and max_addresses >= 1")
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # the login route runs in a thread pool

    def retry_after(self, address: str) -> int:
        """Seconds ``address`` must wait before trying again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(address)
            if len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[0] + self.window_seconds - self._clock()))

    def failed(self, address: str) -> None:
        """Count a wrong token from ``address``."""
        with self._lock:
            failures = self._recent(address)
            failures.append(self._clock())
            while len(failures) > self.max_failures:
                failures.popleft()
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address, deque())
        cutoff = self._clock() - self.window_seconds
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures
