"""How far a recomputed activation may be from the claimed one and still be honest (pure code).

Exact comparison is impossible: prefill and decode, batch shapes and kernels change low bits. Two
relative errors are computed per step, over its positions: ``max |a-b| / scale_max`` (catches a few large
deviations) and ``mean |a-b| / scale_mean`` (catches small noise spread everywhere). A step fails when
either exceeds its threshold. A check judges a whole session by statistics pooled over its steps
(``verifier.statistics``), with thresholds from a calibrated tolerance document
(``verifier.tolerance_document``); see ``docs/verification.md``.

The scales are what an honest error is proportional to. Rounding errors scale with the magnitudes summed
inside the blocks, not with the output's: a client who chooses its inputs so that a block's output nearly
cancels its input (``x ≈ -f(x)``) makes the output tiny while the honest error stays put. So, given the
``InnerScale`` the verifier measured in its own replay (the residual stream at every block boundary and
half-block of the span, at this step's positions), the scales are the largest of the claimed output's
and the inner ones: a client cannot shrink them, and for ordinary inputs, where the output is the largest
state, nothing changes. A session whose replay is not finite anywhere (non-finite or overflowing inputs,
which only the submitter chose) is not judged: its steps pass with ``judged`` false.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from swarmtrust.verifier.tolerance_document import Tolerances


@dataclass(frozen=True)
class Tolerance:
    dtype: str
    max_rel: float  # threshold on max |replayed - claimed| / max |claimed| of one step
    mean_rel: float  # threshold on mean |replayed - claimed| / mean |claimed| of one step
    source: str = "default"  # where the numbers come from (a calibration file, or the shipped defaults)


@dataclass(frozen=True)
class InnerScale:
    """Magnitudes of the residual stream inside a span at one step's positions, measured by a replay."""

    max_abs: float  # largest |value| of any residual state at these positions
    mean_abs: float  # mean over the positions of each one's largest mean |value| over the residual states
    finite: bool  # every state of the session's replay was finite (False: the step cannot be judged)
    gain: float = 1.0  # the span's largest gain at these positions (``verifier.replay.StreamWatch``)


@dataclass(frozen=True)
class StepComparison:
    step: int
    max_rel: float
    mean_rel: float
    passed: bool
    judged: bool = True  # False: the replay itself was not finite (submitted inputs), so no verdict on it

    def severity(self, tolerance: Tolerance) -> float:
        """How far over (> 1) or under (< 1) the thresholds this step is."""
        return max(self.max_rel / tolerance.max_rel, self.mean_rel / tolerance.mean_rel)


def step_scales(claimed: torch.Tensor, inner: InnerScale | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale_max, scale_mean) a step's errors are relative to: the claimed output's magnitudes, raised to the
    replay's inner ones (``inner``) so that crafted inputs cannot shrink them; never zero."""
    claimed = claimed.float()
    scale_max = claimed.abs().max().clamp_min(1e-30)
    scale_mean = claimed.abs().mean().clamp_min(1e-30)
    if inner is not None:
        scale_max = scale_max.clamp_min(inner.max_abs)
        scale_mean = scale_mean.clamp_min(inner.mean_abs)
    return scale_max, scale_mean


def compare_step(
    step: int,
    claimed: torch.Tensor,
    replayed: torch.Tensor,
    tolerance: Tolerance,
    *,
    inner: InnerScale | None = None,
) -> StepComparison:
    """Compare one step's claimed output with the replay's.

    Without ``inner`` the scales are the claimed output's own magnitudes (which crafted inputs can make
    arbitrarily small: use it only where the inputs are known to be ordinary).
    """
    if inner is not None and not inner.finite:
        return StepComparison(step, 0.0, 0.0, True, judged=False)
    claimed, replayed = claimed.float(), replayed.float()
    difference = (replayed - claimed).abs()
    scale_max, scale_mean = step_scales(claimed, inner)
    max_rel = float(difference.max() / scale_max)
    mean_rel = float(difference.mean() / scale_mean)
    if not (torch.isfinite(claimed).all() and torch.isfinite(replayed).all()):
        max_rel = mean_rel = float("inf")
    passed = max_rel <= tolerance.max_rel and mean_rel <= tolerance.mean_rel
    return StepComparison(step, max_rel, mean_rel, passed)


def load_tolerances(path: str | None = None) -> Tolerances:
    """The tolerance documents of ``path`` (a calibration's output) or the shipped ones (``tiny``); see
    ``verifier.tolerance_document``. ToleranceError when the file holds none that can be read."""
    from swarmtrust.verifier.tolerance_document import read_tolerances  # it builds on this module

    return read_tolerances(path)
