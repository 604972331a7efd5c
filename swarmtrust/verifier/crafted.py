"""Crafted inputs: the worst honest statistics a client can provoke on a span, found by search (calibration).

Calibration fits thresholds on ordinary sessions (real token embeddings through the preceding blocks), but a
client chooses the hidden states it sends and holds the public weights. In half precision that matters: a
server's prefill and decode steps round differently from the verifier's one-prefill replay, and how much
depends on the inputs. Gaussian states of a small scale, sparse states, or states optimised so that a span's
output cancels its input drive `tiny`'s honest single-block statistics in bfloat16 to 2.5 times the thresholds
fitted on ordinary sessions: a client could get an honest server failed at will.

Most of that reach is the span's gain (``verifier.replay.StreamWatch``): inputs whose stream nearly cancels make
a half-block amplify the rounding differences before it. The verifier measures the gain in its own replay, so
thresholds are loosened by a session's gain beyond the span's ordinary sessions' (``statistics.gain_factor``), and
the search measures what remains: each value found is divided by its session's gain factor.

So calibration also searches, on every span, for the inputs that make an honest server's statistics largest
against those loosened thresholds (``worst_statistics``). Per statistic it takes the largest ratio, over all
spans, of a value found to the span's fitted threshold (``crafted_ratios``), and multiplies every span's fitted
threshold by ``MARGIN`` times that ratio (``raise_by``). The search tries, round-robin within a time budget per
span:

- ``gaussian``, ``scaled`` (Gaussian at 1e-6 to 1e6), ``sparse`` (a few non-zero coordinates per position),
  ``repeated`` (one state at every position: tied attention keys);
- ``cancel``, ``cancel-inner``, ``bulge``: gradient descent through a float32 copy of the span so that the
  output cancels the input, is small against every inner state, or the inside bulges;
- ``ascent``: a (1+1) evolution strategy on the inputs that keeps a change whenever the session's worst
  statistic over its threshold grows (the honest error is rounding, with no useful gradient, so it is searched
  directly).

Sessions have 1 to 8 rows and up to 48 positions (kernels change paths past 16 positions here). The margin covers
what a longer search would find; that it holds is shown by a property test over all these families
(``tests/verifier/test_crafted_inputs.py``), not assumed.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.verifier.replay import ResidualReplay
from swarmtrust.verifier.statistics import (
    STATISTICS,
    SessionStatistics,
    SessionThresholds,
    gain_factor,
    session_statistics,
    step_error,
)

FAMILIES = ("gaussian", "scaled", "sparse", "repeated", "cancel", "cancel-inner", "bulge", "ascent")
GRADIENT_ATTACKS = ("cancel", "cancel-inner", "bulge")
MARGIN = 2.0  # thresholds at least this many times the worst crafted value found
BATCHES = (1, 2, 4, 8)
PROMPT_TOKENS = (1, 24)
DECODE_STEPS = (0, 24)
ASCENT_EVALUATIONS = 60


@dataclass(frozen=True)
class Session:
    """A session's shape: rows, prompt tokens, then one token per later step."""

    batch: int
    prompt: int
    decode: int

    @classmethod
    def draw(cls, rng: random.Random) -> Session:
        return cls(rng.choice(BATCHES), rng.randint(*PROMPT_TOKENS), rng.randint(*DECODE_STEPS))

    def steps(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        """A client's steps over ``hidden`` (batch, prompt + decode, hidden): the prompt, then one token each."""
        return [hidden[:, : self.prompt]] + [hidden[:, t : t + 1] for t in range(self.prompt, hidden.shape[1])]


def honest_statistics(span: Span, session: Session, hidden: torch.Tensor) -> SessionStatistics:
    """What a check measures when an honest server of ``span`` serves ``hidden``: the server's steps (one KV
    cache, one forward per step) against the verifier's one-prefill replay with inner scales."""
    inputs = [x.to(span.dtype) for x in session.steps(hidden)]
    state = CacheState()
    outputs = [span.forward(x, state) for x in inputs]
    replay = ResidualReplay.of(span, torch.cat(inputs, dim=1)).steps([x.shape[1] for x in inputs])
    return session_statistics(
        [step_error(i, claimed, r.output, r.inner) for i, (claimed, r) in enumerate(zip(outputs, replay, strict=True))]
    )


def severity(stats: SessionStatistics, thresholds: SessionThresholds, gain_reference: float | None = None) -> float:
    """The session's worst statistic over its threshold, loosened for its gain beyond ``gain_reference`` (0 for
    a session that gets no verdict)."""
    if not stats.judged:
        return 0.0
    judged_by = thresholds.times(gain_factor(stats.gain, gain_reference))
    return max(
        value for name, value in judged_by.severity(stats).items() if stats.decode_steps or name.startswith("prompt")
    )


def _residual_states(span: Span, hidden: torch.Tensor) -> list[torch.Tensor]:
    """The span's residual stream, differentiably (``Span.forward`` itself runs in inference mode)."""
    states = [hidden]
    with span.observing_residual_stream(states.append):
        Span.forward.__wrapped__(span, hidden)  # type: ignore[attr-defined]
    return states


def gradient_attack(
    family: str, span32: Span, hidden: torch.Tensor, steps: int, until: float = math.inf
) -> torch.Tensor:
    """Optimise ``hidden`` through the float32 span: the output cancels the input (``cancel``), is small against
    every inner state (``cancel-inner``), or the inside bulges while both ends stay small (``bulge``)."""
    variable = hidden.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([variable], lr=0.05 * float(hidden.abs().mean().clamp_min(1e-30)))
    for step in range(steps):
        if step and time.perf_counter() > until:  # a wide model's budget ends before its steps do
            break
        with torch.enable_grad():
            energy = [s.pow(2).sum(-1) for s in _residual_states(span32, variable)]
            inside = torch.stack(energy).amax(0)
            if family == "cancel":
                loss = (energy[-1] / energy[0]).mean()
            elif family == "cancel-inner":
                loss = (energy[-1] / inside).mean()
            else:
                loss = ((energy[0] + energy[-1]) / inside).mean()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return variable.detach()


def crafted(
    family: str, session: Session, hidden_size: int, rng: random.Random, span32: Span, until: float = math.inf
) -> torch.Tensor:
    """A client's hidden states of ``family`` (any but ``ascent``, which ``ascend`` searches); a gradient attack
    stops at ``until`` (``time.perf_counter``) if its steps have not ended before."""
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    shape = (session.batch, session.prompt + session.decode, hidden_size)
    hidden = torch.randn(shape, generator=generator)
    if family == "scaled":
        return hidden * float(10.0 ** rng.uniform(-6, 6))
    if family == "sparse":
        keep = torch.rand(shape, generator=generator).argsort(-1) < rng.randint(1, 8)
        return torch.where(keep, hidden.sign() * 10.0 ** rng.uniform(-2, 3), torch.zeros(()))
    if family == "repeated":
        return hidden[:1, :1].expand(shape).clone()
    if family in GRADIENT_ATTACKS:  # two rows at most: each step is a backward pass through the span
        scaled = hidden[:2] * float(10.0 ** rng.uniform(-2, 1))
        return gradient_attack(family, span32, scaled, rng.choice((40, 120, 250)), until)
    return hidden


def ascend(
    span: Span, session: Session, thresholds: SessionThresholds, gain_reference: float | None, rng: random.Random,
    evaluations: int, until: float = math.inf,
) -> torch.Tensor:  # fmt: skip
    """A (1+1) evolution strategy on the inputs, keeping whatever raises the session's severity against its
    gain-loosened thresholds (until ``until``, ``time.perf_counter``, if its evaluations have not ended before)."""
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    best = torch.randn(session.batch, session.prompt + session.decode, span.hidden_size, generator=generator)
    best = best * float(10.0 ** rng.uniform(-3, 1))
    best_value = severity(honest_statistics(span, session, best), thresholds, gain_reference)
    step = 0.5
    for _ in range(evaluations):
        if time.perf_counter() > until:
            break
        trial = best + step * best.abs().mean() * torch.randn(best.shape, generator=generator)
        if rng.random() < 0.25:  # rescale one position: rounding errors live in a few places
            trial[:, rng.randrange(trial.shape[1])] *= 10.0 ** rng.uniform(-1, 1)
        value = severity(honest_statistics(span, session, trial), thresholds, gain_reference)
        if value > best_value:
            best, best_value, step = trial, value, min(step * 1.5, 2.0)
        else:
            step = max(step * 0.9, 0.01)
    return best


@dataclass
class CraftedWorst:
    """The largest value of each statistic that crafted inputs gave an honest server of one span, each divided by
    its session's gain factor (``statistics.gain_factor``)."""

    largest: dict[str, float]
    sessions: int = 0
    unjudged: int = 0  # sessions without a verdict (their replay was not finite)
    by_family: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0.0))  # worst severity
    # against the fitted thresholds, per family

    def as_json(self) -> dict[str, Any]:
        return {
            "largest": self.largest,
            "sessions": self.sessions,
            "unjudged": self.unjudged,
            "worst_severity_by_family": self.by_family,
        }


def worst_statistics(
    span: Span, span32: Span, thresholds: SessionThresholds, gain_reference: float | None, *, seconds: float,
    rng: random.Random,
) -> CraftedWorst:  # fmt: skip
    """Search crafted inputs on ``span`` (its float32 copy ``span32`` for gradients) for ``seconds``, every
    family at least once; ``thresholds`` (the fitted ones), loosened by each session's gain beyond
    ``gain_reference``, steer the ascent and measure each family's reach."""
    worst = CraftedWorst(dict.fromkeys(STATISTICS, 0.0))
    started = time.perf_counter()
    rounds = 0
    while rounds == 0 or time.perf_counter() - started < seconds:
        for family in FAMILIES:
            session = Session.draw(rng)
            if family == "ascent":
                hidden = ascend(span, session, thresholds, gain_reference, rng, ASCENT_EVALUATIONS, started + seconds)
            else:
                hidden = crafted(family, session, span.hidden_size, rng, span32, started + seconds)
            stats = honest_statistics(span, session, hidden)
            worst.sessions += 1
            if not stats.judged:
                worst.unjudged += 1
                continue
            factor = gain_factor(stats.gain, gain_reference)
            for name in STATISTICS:
                if stats.decode_steps or name.startswith("prompt"):
                    worst.largest[name] = max(worst.largest[name], stats.value(name) / factor)
            worst.by_family[family] = max(worst.by_family[family], severity(stats, thresholds, gain_reference))
        rounds += 1
    return worst


def crafted_ratios(
    found: dict[tuple[int, int], dict[str, float]], fitted: dict[tuple[int, int], SessionThresholds]
) -> dict[str, float]:
    """Per statistic, the largest ratio over every span of a crafted value found to that span's fitted threshold.

    Pooled over the spans because each span's search is short: the worst one span's search found is what any
    span's longer search could find (a property test over many more sessions showed a single span's worst falls
    short of its own extreme)."""
    return {name: max((found[s][name] / fitted[s].value(name) for s in found), default=0.0) for name in STATISTICS}


def raise_by(thresholds: SessionThresholds, ratios: dict[str, float], margin: float = MARGIN) -> SessionThresholds:
    """``thresholds`` (fitted on ordinary sessions) times ``margin`` times each statistic's crafted ratio, where
    that is more (the prompt's still never below the later steps', as ``verifier.calibration`` keeps them)."""
    raised = {name: thresholds.value(name) * max(1.0, margin * ratios.get(name, 0.0)) for name in STATISTICS}
    raised["prompt_max_rel"] = max(raised["prompt_max_rel"], raised["decode_max_rel"])
    raised["prompt_mean_rel"] = max(raised["prompt_mean_rel"], raised["pooled_rel"])
    return SessionThresholds(*(raised[name] for name in STATISTICS))
