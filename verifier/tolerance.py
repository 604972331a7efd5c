"""How far a recomputed activation may be from the claimed one and still be honest (pure code).

Exact comparison is impossible: prefill and decode, batch shapes and kernels change low bits. Two
relative errors are computed per step, over its positions: ``max |a-b| / max |b|`` (catches a few large
deviations) and ``mean |a-b| / mean |b|`` (catches small noise spread everywhere). A step fails when
either exceeds its threshold. Thresholds come from calibration (``swarmtrust verifier calibrate``): the
honest distribution's extreme quantile times a safety margin; see ``docs/verification.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import torch


@dataclass(frozen=True)
class Tolerance:
    dtype: str
    max_rel: float  # threshold on max |replayed - claimed| / max |claimed| of one step
    mean_rel: float  # threshold on mean |replayed - claimed| / mean |claimed| of one step
    source: str = "default"  # where the numbers come from (a calibration file, or the shipped defaults)


@dataclass(frozen=True)
class StepComparison:
    step: int
    max_rel: float
    mean_rel: float
    passed: bool

    def severity(self, tolerance: Tolerance) -> float:
        """How far over (> 1) or under (< 1) the thresholds this step is."""
        return max(self.max_rel / tolerance.max_rel, self.mean_rel / tolerance.mean_rel)


def compare_step(step: int, claimed: torch.Tensor, replayed: torch.Tensor, tolerance: Tolerance) -> StepComparison:
    claimed, replayed = claimed.float(), replayed.float()
    difference = (replayed - claimed).abs()
    scale_max = claimed.abs().max().clamp_min(1e-30)
    scale_mean = claimed.abs().mean().clamp_min(1e-30)
    max_rel = float(difference.max() / scale_max)
    mean_rel = float(difference.mean() / scale_mean)
    if not (torch.isfinite(claimed).all() and torch.isfinite(replayed).all()):
        max_rel = mean_rel = float("inf")
    passed = max_rel <= tolerance.max_rel and mean_rel <= tolerance.mean_rel
    return StepComparison(step, max_rel, mean_rel, passed)


def load_tolerances(path: str | None = None) -> dict[str, Tolerance]:
    """Thresholds by dtype: from ``path`` (a calibration's output) or the shipped ``tolerances.json``."""
    if path is None:
        text = resources.files("verifier").joinpath("tolerances.json").read_text()
        source = "shipped defaults (verifier/tolerances.json)"
    else:
        with open(path) as handle:
            text = handle.read()
        source = path
    data = json.loads(text)
    return {
        dtype: Tolerance(dtype, float(entry["max_rel"]), float(entry["mean_rel"]), source)
        for dtype, entry in data["thresholds"].items()
    }
