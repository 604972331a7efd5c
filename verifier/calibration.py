"""Calibrating the tolerance: honest error distributions, thresholds, and what they catch.

For each dtype, honest servers run sessions exactly as a block server does (a prefill of the prompt,
then one-token decode steps with a KV cache, batches of 1, 2 or 4) and stateless forward passes over
several spans; a verifier replays each as one prefill, with the same batch and with each sequence alone,
measuring the residual stream inside the span as a check does (``verifier.replay``). Every step gives
(max_rel, mean_rel), against the same inner scales a check uses. Thresholds are the largest honest value
seen in the first half of the comparisons times a margin; the second half, never seen by the threshold,
gives the measured false-positive count. Finally the adversary behaviours of ``node.behaviors`` run over
the same sessions, and the share of their affected steps beyond the thresholds is reported.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from node.behaviors import BehaviorRuntime, parse_behavior, perturb_weights
from node.model.head import ModelHead
from node.model.source import resolve_model
from node.model.span import CacheState, Span
from node.tensors import TORCH_DTYPES
from verifier.replay import ReplayedStep, ResidualReplay
from verifier.tolerance import Tolerance, compare_step

ADVERSARIES = ("noise:0.001", "noise:0.003", "noise:0.01", "skip-layers", "wrong-weights")


@dataclass(frozen=True)
class Session:
    """One honest session on one span: the inputs of each step and what the server returned."""

    span: tuple[int, int]
    inputs: list[torch.Tensor]
    outputs: list[torch.Tensor]
    stateless: bool  # a single forward pass rather than prefill + decode steps


def honest_sessions(
    spans: dict[tuple[int, int], Span], head: ModelHead, num_blocks: int, rng: random.Random
) -> Iterator[Session]:
    """Endless honest sessions with realistic inputs: real token embeddings through the preceding blocks."""
    dtype = next(iter(spans.values())).dtype
    upstream = {start: Span.load(head.source, 0, start, dtype) for (start, _) in spans if start}
    while True:
        span_range = rng.choice(sorted(spans))
        span = spans[span_range]
        batch, prompt, decode = rng.choice((1, 2, 4)), rng.randint(1, 64), rng.randint(0, 48)
        stateless = rng.random() < 0.2
        vocab = head.embed_tokens.num_embeddings
        ids = torch.tensor([[rng.randint(3, vocab - 1) for _ in range(prompt + decode)] for _ in range(batch)])
        hidden = head.embed(ids).to(span.dtype)
        if span_range[0]:
            hidden = upstream[span_range[0]].forward(hidden)
        if stateless:
            yield Session(span_range, [hidden], [span.forward(hidden)], True)
            continue
        state = CacheState()
        inputs = [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, prompt + decode)]
        yield Session(span_range, inputs, [span.forward(x, state) for x in inputs], False)


def replays(span: Span, session: Session) -> list[list[ReplayedStep]]:
    """The verifier's replays of a session: the whole batch at once, and (for batches) each sequence alone."""
    whole = torch.cat(session.inputs, dim=1)
    candidates = [ResidualReplay.of(span, whole)]
    if whole.shape[0] > 1:
        candidates.append(
            ResidualReplay.cat([ResidualReplay.of(span, whole[i : i + 1]) for i in range(whole.shape[0])])
        )
    return [replay.steps([step_input.shape[1] for step_input in session.inputs]) for replay in candidates]


def calibrate(
    model: str,
    dtypes: list[str],
    *,
    comparisons: int,
    margin: float,
    seed: int,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    torch.set_num_threads(1)
    source = resolve_model(model)
    head = ModelHead(source)
    num_blocks = head.num_blocks
    half = num_blocks // 2
    ranges = sorted({(0, half), (half, num_blocks), (0, num_blocks), (min(2, num_blocks - 1), min(3, num_blocks))})
    report: dict[str, Any] = {
        "model": source.model_id,
        "margin": margin,
        "comparisons_per_dtype": comparisons,
        "thresholds": {},
        "dtypes": {},
    }
    for dtype_name in dtypes:
        dtype = TORCH_DTYPES[dtype_name]
        started = time.perf_counter()
        spans = {r: Span.load(source, *r, dtype) for r in ranges}
        rng = random.Random(seed)
        honest: list[tuple[float, float]] = []
        kept: list[Session] = []
        sessions = honest_sessions(spans, head, num_blocks, rng)
        while len(honest) < comparisons:
            session = next(sessions)
            for replay in replays(spans[session.span], session):
                for step, (claimed, replayed) in enumerate(zip(session.outputs, replay, strict=True)):
                    c = compare_step(step, claimed, replayed.output, _INFINITE, inner=replayed.inner)
                    honest.append((c.max_rel, c.mean_rel))
            if len(kept) < 300:
                kept.append(session)
            if len(honest) % 10_000 < 50:
                progress(f"[{dtype_name}] {len(honest):,} honest comparisons, {time.perf_counter() - started:.0f} s")
        fitting, held_out = honest[: len(honest) // 2], honest[len(honest) // 2 :]
        tolerance = Tolerance(
            dtype_name,
            max(m for m, _ in fitting) * margin,
            max(a for _, a in fitting) * margin,
            f"calibrated on {len(fitting):,} honest comparisons, margin {margin}",
        )
        false_positives = sum(m > tolerance.max_rel or a > tolerance.mean_rel for m, a in held_out)
        report["thresholds"][dtype_name] = {"max_rel": tolerance.max_rel, "mean_rel": tolerance.mean_rel}
        report["dtypes"][dtype_name] = {
            "honest": _quantiles(honest),
            "held_out_comparisons": len(held_out),
            "held_out_false_positives": false_positives,
            "adversaries": {a: _detection(a, kept, spans, source, tolerance) for a in ADVERSARIES},
            "seconds": round(time.perf_counter() - started, 1),
        }
        progress(f"[{dtype_name}] thresholds max_rel {tolerance.max_rel:.3g}, mean_rel {tolerance.mean_rel:.3g}; "
                 f"{false_positives} false positives in {len(held_out):,} held-out comparisons")  # fmt: skip
    return report


_INFINITE = Tolerance("any", math.inf, math.inf)


def _quantiles(values: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for index, name in ((0, "max_rel"), (1, "mean_rel")):
        ordered = sorted(v[index] for v in values)
        out[name] = {"max": ordered[-1]} | {
            label: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
            for label, q in (("p99.99", 0.9999), ("p99.9", 0.999), ("median", 0.5))
        }
    return out


def _detection(
    behavior: str, sessions: list[Session], spans: dict[tuple[int, int], Span], source: Any, tolerance: Tolerance
) -> dict[str, Any]:
    """Share of an adversary's steps that fail at ``tolerance``, over the kept honest sessions' inputs."""
    caught = total = 0
    smallest = math.inf
    runtime = BehaviorRuntime(parse_behavior(behavior), seed=1)
    cheaters: dict[tuple[int, int], Span] = {}
    for session in sessions:
        honest_span = spans[session.span]
        if behavior == "wrong-weights":
            if session.span not in cheaters:
                cheaters[session.span] = Span.load(source, *session.span, honest_span.dtype)
                perturb_weights(cheaters[session.span].layers)
            outputs = _serve(cheaters[session.span], session, set())
        elif behavior == "skip-layers":
            outputs = _serve(honest_span, session, set(runtime.skipped_blocks(*session.span)))
        else:
            outputs = [runtime.finish_step(out) for out in session.outputs]
        replay = replays(honest_span, session)[0]
        for step, (claimed, replayed) in enumerate(zip(outputs, replay, strict=True)):
            comparison = compare_step(step, claimed, replayed.output, tolerance, inner=replayed.inner)
            caught += not comparison.passed
            total += 1
            smallest = min(smallest, comparison.severity(tolerance))
    return {
        "steps": total,
        "caught": caught,
        "share_caught": caught / total if total else 0.0,
        "least_severity": smallest,
    }


def _serve(span: Span, session: Session, skip: set[int]) -> list[torch.Tensor]:
    if session.stateless:
        return [span.forward(session.inputs[0], skip=skip)]
    state = CacheState()
    return [span.forward(x, state, skip=skip) for x in session.inputs]
