"""Session statistics: what a check decides on, pooled over a session's compared steps (pure code).

One step's error says little in bfloat16 or float16: an honest step's rounding error there is as large as a
cheap cheat's (noise at 1e-3 of the output, int8 weights). Over a session the honest errors average out
while a cheat's do not, so a session is judged by four statistics, each with its own threshold:

    prompt_max_rel   step 0 (the prompt prefill): max |replayed - claimed| / scale_max
    prompt_mean_rel  step 0: mean |replayed - claimed| / scale_mean
    decode_max_rel   the largest per-step max_rel of the later compared steps: gross deviations on any one
                     step (a skipped layer, one corrupted step) still fail on their own
    pooled_rel       sum over the later compared steps of sum |replayed - claimed|, divided by the sum of
                     numel * scale_mean: small deviations spread over the session

The scales are ``compare_step``'s (``verifier.tolerance.step_scales``): the claimed output's magnitudes raised
to the replay's inner ones, so crafted inputs cannot shrink them. Thresholds come from a tolerance document
(``verifier.tolerance``), composed over a span's blocks (``compose``).

A session also carries its gain: the largest, over its compared positions, of how much the span amplifies a
rounding difference there (``verifier.replay.StreamWatch``), measured by the verifier's own replay. Honest
half-precision errors grow with it, and a client can raise it at will by crafting inputs that nearly cancel in
the stream; so a span's thresholds are loosened for a session whose gain is beyond what ordinary sessions
showed at calibration (``gain_factor``), and only there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from swarmtrust.verifier.tolerance import InnerScale, step_scales

GAIN_CAP = 1e12  # the largest gain a replay records (``verifier.replay.StreamWatch``): thresholds stay finite

STATISTICS = ("prompt_max_rel", "prompt_mean_rel", "decode_max_rel", "pooled_rel")


@dataclass(frozen=True)
class StepError:
    """One compared step's errors, with the sums the pooled statistic adds up."""

    step: int
    max_rel: float
    mean_rel: float
    abs_sum: float  # sum |replayed - claimed| over the step's values
    scale_sum: float  # numel * scale_mean
    judged: bool = True  # False: the replay was not finite (only submitted inputs can cause that)
    gain: float = 1.0  # the replay's largest gain at the step's positions (``InnerScale.gain``)


def step_error(step: int, claimed: torch.Tensor, replayed: torch.Tensor, inner: InnerScale | None) -> StepError:
    """Measure one step; a non-finite claimed or replayed value makes every error infinite."""
    if inner is not None and not inner.finite:
        return StepError(step, 0.0, 0.0, 0.0, 0.0, judged=False)
    claimed, replayed = claimed.float(), replayed.float()
    difference = (replayed - claimed).abs()
    scale_max, scale_mean = step_scales(claimed, inner)
    gain = inner.gain if inner is not None else 1.0
    if not (torch.isfinite(claimed).all() and torch.isfinite(replayed).all()):
        return StepError(step, math.inf, math.inf, math.inf, float(claimed.numel() * scale_mean), gain=gain)
    numel = claimed.numel()
    return StepError(
        step,
        float(difference.max() / scale_max) if numel else 0.0,
        float(difference.mean() / scale_mean) if numel else 0.0,
        float(difference.double().sum()),
        float(numel * scale_mean.double()),
        gain=gain,
    )


@dataclass(frozen=True)
class SessionStatistics:
    prompt_max_rel: float
    prompt_mean_rel: float
    decode_max_rel: float  # 0 for a session compared on its prompt alone
    pooled_rel: float  # 0 for a session compared on its prompt alone
    decode_steps: int  # later compared steps pooled
    worst_decode_step: int  # the decode step with the largest max_rel (0 when none)
    judged: bool = True
    gain: float = 1.0  # the largest gain over the compared steps (``StepError.gain``)

    def value(self, name: str) -> float:
        return float(getattr(self, name))


def session_statistics(steps: Sequence[StepError]) -> SessionStatistics:
    """The statistics of a session's compared steps, in step order. Evidence keeps step 0's output; where a
    bundle lacks it, the prompt's statistics are 0 and every compared step is pooled with the later ones."""
    if not steps:
        raise ValueError("a session's statistics need at least one compared step")
    if not all(s.judged for s in steps):
        return SessionStatistics(0.0, 0.0, 0.0, 0.0, 0, 0, judged=False)
    if steps[0].step == 0:
        prompt, decode = steps[0], steps[1:]
    else:
        prompt, decode = StepError(0, 0.0, 0.0, 0.0, 0.0), steps
    worst = max(decode, key=lambda s: s.max_rel, default=None)
    scale = sum(s.scale_sum for s in decode)
    error = sum(s.abs_sum for s in decode)
    return SessionStatistics(
        prompt.max_rel,
        prompt.mean_rel,
        worst.max_rel if worst else 0.0,
        error / scale if scale > 0 else (math.inf if error > 0 else 0.0),
        len(decode),
        worst.step if worst else 0,
        gain=max(s.gain for s in steps),
    )


@dataclass(frozen=True)
class SessionThresholds:
    """The largest honest value of each statistic (a session fails when any is exceeded)."""

    prompt_max_rel: float
    prompt_mean_rel: float
    decode_max_rel: float
    pooled_rel: float

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"threshold {field.name} must be a positive finite number, not {value!r}")

    def value(self, name: str) -> float:
        return float(getattr(self, name))

    def exceeded(self, statistics: SessionStatistics) -> tuple[str, ...]:
        """The statistics over their thresholds (none for a session that could not be judged)."""
        if not statistics.judged:
            return ()
        return tuple(name for name in STATISTICS if not statistics.value(name) <= self.value(name))

    def severity(self, statistics: SessionStatistics) -> dict[str, float]:
        """Each statistic over its threshold: above 1 fails."""
        return {name: statistics.value(name) / self.value(name) for name in STATISTICS}

    def times(self, factor: float) -> SessionThresholds:
        return self if factor == 1.0 else SessionThresholds(*(self.value(name) * factor for name in STATISTICS))


def gain_factor(gain: float, reference: float | None) -> float:
    """How many times looser a session's thresholds are for its ``gain``: its excess over the ``reference``
    (the largest gain of a span's ordinary calibration sessions), never less than 1; 1 without a reference."""
    if reference is None or not gain > reference:
        return 1.0
    return min(gain, GAIN_CAP) / reference


def compose(blocks: Sequence[SessionThresholds], factors: dict[str, float] | None = None) -> SessionThresholds:
    """A span's thresholds from its blocks': the sum over the blocks times each statistic's composition factor,
    and never below the largest block's own (a span never tolerates less than one of its blocks alone).

    Summing holds when each block adds its own rounding error and passes the rest on through the residual
    stream; the factors (measured by calibration) correct for how errors really combine.
    """
    if not blocks:
        raise ValueError("a span has at least one block")
    factors = factors or {}
    return SessionThresholds(
        *(
            max(max(b.value(name) for b in blocks), sum(b.value(name) for b in blocks) * factors.get(name, 1.0))
            for name in STATISTICS
        )
    )
