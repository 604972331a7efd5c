"""From per-step detection rates to what one check of a session finds, and how long a cheater lasts (pure).

A check compares ``compared`` of a session's ``steps`` (the client's evidence budget may cut a long session
short). If the session corrupts ``corrupted`` of its steps, spread anywhere, the number of corrupted steps the
check compares is hypergeometric, and each is caught with the measured per-step rate ``p``:

    d = 1 − E[(1 − p)^X],   X ~ Hypergeometric(steps, corrupted, compared)

The same formula with the honest per-step false-positive rate gives a session's false-alarm chance.

Bounds (stated in docs/verification.md and asserted by the tests): checks of corrupted sessions are
independent trials that each convict with probability ``d``, so a cheater is convicted after 1/d of them in
expectation, and within ``checks_bound(d, miss)`` of them except with probability ``miss``. Corrupting a
share ``F`` of its sessions, each checked with probability ``r`` (at least the floor rate), it serves about
1/(r·F·d) sessions and corrupts about 1/(r·d) of them before its conviction, whatever ``F``: a lower rate
buys time, not more corrupted outputs.
"""

from __future__ import annotations

import math


def session_detection(step_rate: float, steps: int, corrupted: int, compared: int) -> float:
    """Chance that one check of a session corrupting ``corrupted`` of ``steps`` steps, comparing ``compared``
    of them, fails it."""
    if not (0 <= corrupted <= steps and 0 <= compared <= steps):
        raise ValueError(f"need 0 ≤ corrupted, compared ≤ steps; got {corrupted}, {compared} of {steps}")
    if not 0.0 <= step_rate <= 1.0:
        raise ValueError(f"a per-step rate is a probability; got {step_rate}")
    if step_rate == 0.0 or corrupted == 0 or compared == 0:
        return 0.0  # exactly (the sum below may round a hair off 1)
    total = math.comb(steps, compared)
    missed = sum(
        math.comb(corrupted, x) * math.comb(steps - corrupted, compared - x) / total * (1.0 - step_rate) ** x
        for x in range(max(0, compared - (steps - corrupted)), min(corrupted, compared) + 1)
    )
    return min(1.0, max(0.0, 1.0 - missed))


def checks_bound(detection: float, miss: float = 1e-3) -> int | None:
    """Checks of corrupted sessions within which a cheater is convicted except with probability ``miss``
    (the least n with (1 − d)^n ≤ miss); None when ``detection`` is 0: nothing convicts it."""
    if detection <= 0.0:
        return None
    if detection >= 1.0:
        return 1
    return math.ceil(math.log(miss) / math.log1p(-detection))


def expected_sessions_to_conviction(detection: float, check_rate: float, cheat_rate: float = 1.0) -> float:
    """Sessions a cheater serves before its conviction, in expectation: 1/(r·F·d) (inf when nothing convicts)."""
    product = detection * check_rate * cheat_rate
    return math.inf if product <= 0.0 else 1.0 / product
