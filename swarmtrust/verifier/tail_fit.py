"""Thresholds from the tail of an honest distribution (pure code, deterministic).

A fixed margin over the largest honest value says nothing about how often an honest session would exceed it.
Instead the top of the fitting values (those above their ``1 - tail_fraction`` quantile) is fitted with a
generalised Pareto distribution (peaks over threshold: ``scipy.stats.genpareto``, location 0 on the
exceedances), and the threshold is where that tail puts the chance of an honest value beyond it at
``target_rate``. A fitted shape below 0 (a bounded tail, whose end the fit puts just past the largest value
seen) is replaced by 0, the exponential tail: honest sessions never seen may go further. The threshold is never
below the largest fitting value. Held-out sessions, which the fit never saw, then measure the false positives
(``false_positive_bound``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TAIL_FRACTION = 0.15  # the share of the fitting values whose excess over the rest is fitted
MIN_EXCEEDANCES = 20  # fewer than this cannot fit a tail: the threshold falls back (see fit_tail)
FALLBACK_FACTOR = 2.0  # threshold = largest x this, when the tail cannot be fitted


@dataclass(frozen=True)
class TailFit:
    threshold: float
    method: str  # "genpareto" or why it fell back
    samples: int  # fitting values
    exceedances: int  # of them above ``location``
    location: float  # the quantile the exceedances are measured from
    shape: float  # genpareto c (> 0: heavy tail, < 0: bounded)
    scale: float
    largest: float  # the largest fitting value

    def as_json(self) -> dict[str, float | int | str]:
        return {
            "threshold": self.threshold,
            "method": self.method,
            "samples": self.samples,
            "exceedances": self.exceedances,
            "location": self.location,
            "shape": self.shape,
            "scale": self.scale,
            "largest": self.largest,
        }


def fit_tail(values: Sequence[float], target_rate: float, tail_fraction: float = TAIL_FRACTION) -> TailFit:
    """The value an honest sample exceeds with probability ``target_rate``, by the fitted tail.

    ValueError for an empty, non-finite or negative sample, or a rate outside (0, 1).
    """
    if not 0 < target_rate < 1:
        raise ValueError(f"target_rate must be in (0, 1), not {target_rate}")
    ordered = sorted(float(v) for v in values)
    if not ordered or not all(math.isfinite(v) and v >= 0 for v in ordered):
        raise ValueError("the honest values to fit must be finite, non-negative and at least one")
    largest = ordered[-1]
    n = len(ordered)
    location = ordered[min(n - 1, int((1 - tail_fraction) * n))]
    excess = [v - location for v in ordered if v > location]
    if len(excess) < MIN_EXCEEDANCES or len(set(excess)) < 3:
        fallback = max(largest * FALLBACK_FACTOR, 1e-30)
        return TailFit(fallback, f"fallback: {len(excess)} exceedances, largest x {FALLBACK_FACTOR}", n,
                       len(excess), location, math.nan, math.nan, largest)  # fmt: skip
    from scipy.stats import genpareto  # imported here: scipy is slow to import, and only calibration fits

    shape, _, scale = genpareto.fit(excess, floc=0.0)
    if shape < 0:  # a bounded tail is never assumed (its end sits near the largest value seen): exponential
        shape, scale = 0.0, sum(excess) / len(excess)
    conditional = target_rate * n / len(excess)  # P(X > t) = P(X > u) * P(X - u > t - u | X > u)
    quantile = float(genpareto.isf(conditional, shape, loc=0.0, scale=scale)) if conditional < 1 else 0.0
    threshold = location + quantile if math.isfinite(quantile) else largest * FALLBACK_FACTOR
    return TailFit(max(threshold, largest), "genpareto", n, len(excess), location, float(shape), float(scale), largest)


def false_positive_bound(false_positives: int, sessions: int, confidence: float = 0.95) -> float:
    """The one-sided upper bound on the false-positive rate after ``false_positives`` in ``sessions`` held-out
    sessions (exact, Clopper-Pearson; ``1 - 0.05 ** (1 / N)`` when none was seen)."""
    if sessions <= 0:
        return 1.0
    if false_positives <= 0:
        return float(1 - (1 - confidence) ** (1 / sessions))
    if false_positives >= sessions:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, false_positives + 1, sessions - false_positives))
