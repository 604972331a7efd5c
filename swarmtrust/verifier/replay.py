"""Replaying a server's span from evidence: all the session's inputs as one prefill, in the server's dtype.

``replay_with_scales`` also measures the residual stream inside the span at every position (see
``verifier.tolerance.InnerScale``): the scale an honest error is judged against, which crafted inputs
cannot shrink, and the span's gain there, how much it amplifies a rounding difference (``StreamWatch``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from swarmtrust.node.device import device_kind
from swarmtrust.node.model.source import ModelSource
from swarmtrust.node.model.span import Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.verifier.statistics import GAIN_CAP
from swarmtrust.verifier.tolerance import InnerScale


class SpanCache:
    """The last few spans a verifier needed, loaded on demand (only those blocks are ever read)."""

    def __init__(self, source: ModelSource, capacity: int = 4, device: torch.device | None = None) -> None:
        self.source = source
        self.capacity = capacity
        self.device = device  # where replays run (default: the CPU)
        self._spans: OrderedDict[tuple[int, int, str], Span] = OrderedDict()

    @property
    def device_kind(self) -> str:
        """The kind of device replays run on, which picks the tolerance document (``node.device.device_kind``)."""
        return device_kind(self.device)

    def span(self, start: int, end: int, dtype: str) -> Span:
        key = (start, end, dtype)
        if key in self._spans:
            self._spans.move_to_end(key)
            return self._spans[key]
        span = Span.load(self.source, start, end, TORCH_DTYPES[dtype], self.device)
        self._spans[key] = span
        if len(self._spans) > self.capacity:
            self._spans.popitem(last=False)
        return span


def replay_session(span: Span, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The span's output for each step of a session, computed as one prefill over all its inputs.

    ``inputs`` are the steps' hidden states as the server received them, (batch, tokens, hidden) each; the
    result has one tensor per step with the same shape, cut from the prefill's positions.
    """
    whole = span.forward(torch.cat(list(inputs), dim=1))
    outputs: list[torch.Tensor] = []
    position = 0
    for step_input in inputs:
        tokens = step_input.shape[1]
        outputs.append(whole[:, position : position + tokens])
        position += tokens
    return outputs


@dataclass(frozen=True)
class ReplayedStep:
    """One step of a replay: the span's output at its positions and the inner magnitudes there."""

    output: torch.Tensor  # (batch, tokens, hidden), as replay_session gives it
    inner: InnerScale


class StreamWatch:
    """What one forward pass's residual stream shows at each position: its largest |value|, its largest mean
    |value| over hidden, and the span's gain.

    The gain is the product, over consecutive residual states, of ``1 + mean|change| / mean|state|``. Each
    half-block normalises its input before adding to it, so a rounding difference in a state of small
    magnitude comes out of the next half-block multiplied by about the ratio of what that adds to that
    magnitude; the product is how much the span can amplify an honest rounding difference at that position.
    Ordinary inputs keep it modest; inputs crafted so that the stream nearly cancels make it large, and with
    it the honest error (``verifier.crafted``): checks loosen their thresholds by it (``statistics.gain_factor``).
    """

    def __init__(self, batch: int, positions: int) -> None:
        self.largest = torch.zeros(batch, positions, dtype=torch.float32)
        self.typical = torch.zeros(batch, positions, dtype=torch.float32)
        self.gain = torch.ones(batch, positions, dtype=torch.float32)
        self._previous: torch.Tensor | None = None

    def observe(self, state: torch.Tensor) -> None:
        """One residual state, in the order the forward pass makes them (its input first)."""
        state = state.detach().float()
        magnitude = state.abs()
        # maximum propagates NaN and inf, so a non-finite state shows in ``largest`` at the end
        torch.maximum(self.largest, magnitude.amax(dim=-1), out=self.largest)
        torch.maximum(self.typical, magnitude.mean(dim=-1), out=self.typical)
        if self._previous is not None:
            before = self._previous.abs().mean(dim=-1).clamp_min(torch.finfo(torch.float32).tiny)
            step = (state - self._previous).abs().mean(dim=-1) / before
            self.gain = (self.gain * (1 + step.nan_to_num(nan=GAIN_CAP))).clamp_max(GAIN_CAP)
        self._previous = state

    @property
    def finite(self) -> bool:
        return bool(torch.isfinite(self.largest).all())


@dataclass(frozen=True)
class ResidualReplay:
    """A replay over all a session's positions, with per-position magnitudes of the residual stream."""

    output: torch.Tensor  # (batch, positions, hidden)
    largest: torch.Tensor  # (batch, positions): max |value| over hidden and over every residual state
    typical: torch.Tensor  # (batch, positions): max over the residual states of the mean |value| over hidden
    finite: bool  # every residual state, at every position, was finite
    gain: torch.Tensor  # (batch, positions): the span's gain there (``StreamWatch``)

    @classmethod
    def of(cls, span: Span, hidden: torch.Tensor) -> ResidualReplay:
        """Run ``span`` statelessly over ``hidden`` (one prefill), watching its residual stream."""
        watch = StreamWatch(hidden.shape[0], hidden.shape[1])
        watch.observe(hidden.to(span.dtype))  # the input is a state too (a block-free span would have no other)
        with span.observing_residual_stream(watch.observe):
            output = span.forward(hidden)
        return cls(output, watch.largest, watch.typical, watch.finite, watch.gain)

    @classmethod
    def cat(cls, parts: Sequence[ResidualReplay]) -> ResidualReplay:
        """Replays of separate sequences, as one batch (the rows in order)."""
        return cls(
            torch.cat([p.output for p in parts]),
            torch.cat([p.largest for p in parts]),
            torch.cat([p.typical for p in parts]),
            all(p.finite for p in parts),
            torch.cat([p.gain for p in parts]),
        )

    def steps(self, tokens_per_step: Sequence[int]) -> list[ReplayedStep]:
        """Cut into steps of the given numbers of positions, in order."""
        if sum(tokens_per_step) != self.output.shape[1]:
            raise ValueError(f"steps of {list(tokens_per_step)} tokens do not cover {self.output.shape[1]} positions")
        out: list[ReplayedStep] = []
        position = 0
        for tokens in tokens_per_step:
            window = slice(position, position + tokens)
            inner = InnerScale(
                float(self.largest[:, window].max()),
                float(self.typical[:, window].mean()),
                self.finite,
                float(self.gain[:, window].max()),
            )
            out.append(ReplayedStep(self.output[:, window], inner))
            position += tokens
        return out


def replay_with_scales(span: Span, inputs: Sequence[torch.Tensor]) -> list[ReplayedStep]:
    """As ``replay_session``, with each step's ``InnerScale`` for ``compare_step(..., inner=...)``.

    ``inner.finite`` is session-wide: one non-finite state anywhere (a NaN or an overflow the submitted
    inputs caused) can reach other positions through attention, so no step of such a session is judged.
    """
    replay = ResidualReplay.of(span, torch.cat(list(inputs), dim=1))
    return replay.steps([step_input.shape[1] for step_input in inputs])
