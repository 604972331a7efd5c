"""From the session rates calibration measured to what one check of a session finds, and how long a cheater
lasts (pure).

Calibration (read by ``detection_table``) re-serves whole sessions with a corruption on every step and
measures the share ``c`` of them the thresholds fail, per dtype and corruption, and the share of honest
sessions they fail. A check compares ``compared`` of a session's ``steps`` (the client's evidence budget may
cut a long session short); if the session corrupts ``corrupted`` of its steps, spread anywhere, the check
compares at least one of them with the hypergeometric chance 1 − C(steps − corrupted, compared) /
C(steps, compared). The model:

    d = c · P(the check compares a corrupted step)

so a check that compares a corrupted step fails the session at the measured rate, and one that compares none
passes it (save a false alarm, at the honest sessions' measured rate whatever is compared). With every step
corrupted (the calibration's case, and the simulation's default) d = c exactly. For sparse corruption d is an
upper bound: a session's statistics pool its compared steps (``pooled_rel``) or take the largest
(``decode_max_rel``), so a few corrupted steps among honest ones fail it less often than calibration's every
corrupted step did; calibration measures no sparse corruption to scale by. (A server corrupting each step
with probability F, the node's ``cheat-rate:F``, is ``corrupted`` ≈ F·steps here; the simulation's ``cheat:F``
corrupts a share F of sessions, each on every step.)

Bounds (stated in docs/verification.md and asserted by the tests): checks of corrupted sessions are
independent trials that each convict with probability ``d``, so a cheater is convicted after 1/d of them in
expectation, and within ``checks_bound(d, miss)`` of them except with probability ``miss``. Corrupting a
share ``F`` of its sessions, each checked with probability ``r`` (at least the floor rate), it serves about
1/(r·F·d) sessions and corrupts about 1/(r·d) of them before its conviction, whatever ``F``: a lower rate
buys time, not more corrupted outputs.
"""

from __future__ import annotations

import math


def compares_corruption(steps: int, corrupted: int, compared: int) -> float:
    """Chance that a check comparing ``compared`` of a session's ``steps`` steps, drawn anywhere, compares at
    least one of the ``corrupted`` ones."""
    if not (0 <= corrupted <= steps and 0 <= compared <= steps):
        raise ValueError(f"need 0 ≤ corrupted, compared ≤ steps; got {corrupted}, {compared} of {steps}")
    if corrupted == 0 or compared == 0:
        return 0.0
    return 1.0 - math.comb(steps - corrupted, compared) / math.comb(steps, compared)


def check_detection(session_rate: float, steps: int, corrupted: int, compared: int) -> float:
    """Chance that one check of a session corrupting ``corrupted`` of ``steps`` steps, comparing ``compared``
    of them, fails it, when calibration caught a share ``session_rate`` of sessions corrupted on every step."""
    if not 0.0 <= session_rate <= 1.0:
        raise ValueError(f"a session rate is a probability; got {session_rate}")
    return session_rate * compares_corruption(steps, corrupted, compared)


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
