"""Calibrating tolerance documents: honest session statistics, tail-fitted thresholds, and what they catch.

For each dtype, honest servers run sessions exactly as a block server does (a prefill of the prompt, then
one-token decode steps with a KV cache per block, batches of 1, 2, 4 or 8) through every block of the model,
from real token embeddings, so each block sees the inputs it would see in the swarm. Each session yields a
single-block session per block (that block's inputs and outputs) and one on a random span of 1 to all blocks;
a verifier replays each as a check does (one prefill, inner scales: ``verifier.replay``) and computes the
session statistics (``verifier.statistics``). Replays run on the verifier's device; sessions are served in turn
on each device kind honest servers use (``--server-device``: the CPU, and CUDA where this machine has it), so the
thresholds hold for a CPU verifier checking a GPU server.

Sessions alternate between a fitting half and a held-out half. On the fitting half each block's thresholds
are fitted to the tail of its single-block statistics (``verifier.tail_fit``) at a target false-positive
rate per session, shared among the statistics; the composition factors are fitted the same way to the ratio
of each multi-block span's statistic to its blocks' summed thresholds. The held-out half, which no fit
saw, gives the false positives of every span checked and their 95% upper bound. Finally each adversary
behaviour of ``node.behaviors`` re-serves the held-out sessions' random spans, and the share of those
sessions it is caught in is recorded; and those sessions, served again on their spans at several torch
thread counts, measure whether a stepwise replay reproduces a server's bits (``stepwise_replay``, which
exact comparison in ``verifier.escalation`` relies on).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from swarmtrust.node.behaviors import WEIGHT_CHANGES, BehaviorRuntime, parse_behavior, perturb_weights
from swarmtrust.node.device import device_kind
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.source import ModelSource, resolve_model
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.verifier.crafted import FAMILIES, MARGIN, crafted_ratios, raise_by, worst_statistics
from swarmtrust.verifier.escalation import measured_record, replay_stepwise
from swarmtrust.verifier.replay import ReplayedStep, ResidualReplay
from swarmtrust.verifier.statistics import (
    STATISTICS,
    SessionStatistics,
    SessionThresholds,
    session_statistics,
    step_error,
)
from swarmtrust.verifier.tail_fit import TAIL_FRACTION, false_positive_bound, fit_tail
from swarmtrust.verifier.tolerance_document import FORMAT, ToleranceDocument
from swarmtrust.verifier.tolerance_records import hardware_class

ADVERSARIES = (
    "noise:0.001", "noise:0.003", "noise:0.01", "wrong-weights", "int8-weights", "fp8-weights", "skip-layers",
)  # fmt: skip
BATCHES = (1, 2, 4, 8)
PROMPT_TOKENS = (1, 64)  # range of a session's prompt length
DECODE_STEPS = (0, 48)  # range of its decode steps
TARGET_RATE = 1e-9  # false positives per honest session the thresholds aim at (shared among the statistics)

Progress = Callable[[str], None]


class CalibrationError(SwarmtrustError):
    """A calibration that cannot fit thresholds as asked."""


@dataclass(frozen=True)
class ServedSession:
    """One honest session through every block: ``states[b]`` are block ``b``'s inputs step by step, and
    ``states[b + 1]`` its outputs (so a span ``[s, e)`` took ``states[s]`` and returned ``states[e]``)."""

    states: list[list[torch.Tensor]]
    span: tuple[int, int]  # the random span this session is also checked on
    server: str = "cpu"  # the device kind it was served on


def serve_through(blocks: list[Span], steps: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Every block's inputs and outputs when ``blocks`` serve a session's ``steps`` in a chain (see
    ``ServedSession.states``): each block with its own KV cache, as servers of one block each would."""
    states = [[x.to(blocks[0].dtype) for x in steps]]
    for block in blocks:
        states.append(serve_chain([block], states[-1], frozenset()))
    return states


def judge(replay: list[ReplayedStep], outputs: list[torch.Tensor]) -> SessionStatistics:
    """The statistics a check computes for a session's claimed outputs against the verifier's replay."""
    return session_statistics(
        [step_error(i, claimed, r.output, r.inner) for i, (claimed, r) in enumerate(zip(outputs, replay, strict=True))]
    )


def replay_of(span: Span, inputs: list[torch.Tensor]) -> list[ReplayedStep]:
    return ResidualReplay.of(span, torch.cat(inputs, dim=1)).steps([x.shape[1] for x in inputs])


class Calibration:
    """One dtype's calibration of one model (see the module docstring): replays on ``device``, honest sessions
    served in turn on each device of ``servers`` (by device kind; the replay's own when none are given)."""

    def __init__(
        self, source: ModelSource, head: ModelHead, dtype_name: str, seed: int,
        device: torch.device | None = None, servers: dict[str, torch.device] | None = None,
    ) -> None:  # fmt: skip
        self.source, self.head, self.dtype_name = source, head, dtype_name
        self.dtype = TORCH_DTYPES[dtype_name]
        self.num_blocks = head.num_blocks
        self.device = device or torch.device("cpu")
        self.servers = servers or {device_kind(self.device): self.device}
        self.blocks = self._blocks(self.device)  # on the replay's device: adversaries serve with these
        self.served_by = {
            kind: self.blocks if where == self.device else self._blocks(where) for kind, where in self.servers.items()
        }
        self._spans: dict[tuple[int, int, torch.dtype], Span] = {}
        self.rng = random.Random(seed)
        self._sessions = 0

    def _blocks(self, device: torch.device) -> list[Span]:
        return [Span.load(self.source, b, b + 1, self.dtype, device) for b in range(self.num_blocks)]

    def span(self, start: int, end: int, dtype: torch.dtype | None = None) -> Span:
        """Blocks ``[start, end)`` in the calibrated dtype, or in ``dtype`` (float32 for crafting's gradients)."""
        key = (start, end, dtype or self.dtype)
        if key not in self._spans:
            self._spans[key] = Span.load(self.source, start, end, key[2], self.device)
            if dtype is not None:
                for layer in self._spans[key].layers:
                    layer.requires_grad_(False)
        return self._spans[key]

    def session(self) -> ServedSession:
        """A new honest session from random tokens (a prompt prefill, then one token per step)."""
        rng = self.rng
        batch, prompt, decode = rng.choice(BATCHES), rng.randint(*PROMPT_TOKENS), rng.randint(*DECODE_STEPS)
        vocab = self.head.embed_tokens.num_embeddings
        ids = torch.tensor([[rng.randint(3, vocab - 1) for _ in range(prompt + decode)] for _ in range(batch)])
        embeddings = self.head.embed(ids)
        start = rng.randrange(self.num_blocks)
        end = rng.randint(start + 1, self.num_blocks)
        steps = [embeddings[:, :prompt]] + [embeddings[:, t : t + 1] for t in range(prompt, prompt + decode)]
        kinds = sorted(self.served_by)
        server = kinds[self._sessions % len(kinds)]  # in turn, so every server kind gets its share of each tail
        self._sessions += 1
        return ServedSession(serve_through(self.served_by[server], steps), (start, end), server)

    def spans(self) -> list[tuple[int, int]]:
        return [(a, b) for a in range(self.num_blocks) for b in range(a + 1, self.num_blocks + 1)]

    def statistics(self, served: ServedSession) -> dict[tuple[int, int], SessionStatistics]:
        """The session's statistics on every span of the model (each a session a server of it could serve)."""
        states = served.states
        return {(a, b): judge(replay_of(self.span(a, b), states[a]), states[b]) for a, b in self.spans()}


SpanStatistics = dict[tuple[int, int], SessionStatistics]


def _values(stats: list[SessionStatistics], name: str) -> list[float]:
    """A statistic's honest values; decode statistics only from sessions that had decode steps."""
    if name in ("decode_max_rel", "pooled_rel"):
        return [s.value(name) for s in stats if s.decode_steps > 0]
    return [s.value(name) for s in stats]


def fit_thresholds(stats: list[SessionStatistics], rate: float) -> tuple[SessionThresholds, dict[str, Any]]:
    """Each statistic's threshold, fitted to the tail of its honest values at ``rate``.

    The prompt's thresholds are never below the later steps' (``rel_max`` below the largest step's, ``rel_mean``
    below the pooled one): a prompt replayed in a longer prefill is often bit-identical, so its honest values
    can be all zeros in the fitting half, yet it may take any kernel path a decode step takes.
    """
    fits = {name: fit_tail(_values(stats, name), rate) for name in STATISTICS}
    found = {name: fit.threshold for name, fit in fits.items()}
    found["prompt_max_rel"] = max(found["prompt_max_rel"], found["decode_max_rel"])
    found["prompt_mean_rel"] = max(found["prompt_mean_rel"], found["pooled_rel"])
    return SessionThresholds(*(found[name] for name in STATISTICS)), {n: f.as_json() for n, f in fits.items()}


def composition_ratios(sessions: list[SpanStatistics], blocks: list[SessionThresholds]) -> dict[str, list[float]]:
    """For each statistic, each multi-block span's value over its blocks' summed thresholds."""
    ratios: dict[str, list[float]] = {name: [] for name in STATISTICS}
    for spans in sessions:
        for (start, end), stats in spans.items():
            if end - start < 2:
                continue
            for name in STATISTICS:
                if name in ("decode_max_rel", "pooled_rel") and stats.decode_steps == 0:
                    continue
                ratios[name].append(stats.value(name) / sum(b.value(name) for b in blocks[start:end]))
    return ratios


def calibrate_dtype(
    source: ModelSource, head: ModelHead, dtype_name: str, *, seconds: float, max_sessions: int,
    adversary_sessions: int, crafted_seconds: float, seed: int, progress: Progress,
    device: torch.device | None = None, servers: dict[str, torch.device] | None = None,
) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    run = Calibration(source, head, dtype_name, seed, device, servers)
    served_on = dict.fromkeys(sorted(run.served_by), 0)
    fitting: list[SpanStatistics] = []
    held_out: list[SpanStatistics] = []
    kept: list[ServedSession] = []  # the first held-out sessions, re-served by each adversary
    while len(fitting) + len(held_out) < max_sessions and time.perf_counter() - started < seconds:
        served = run.session()
        served_on[served.server] += 1
        stats = run.statistics(served)
        if (len(fitting) + len(held_out)) % 2 == 0:
            fitting.append(stats)
        else:
            held_out.append(stats)
            if len(kept) < adversary_sessions:
                kept.append(served)
        done = len(fitting) + len(held_out)
        if done % 50 == 0:
            progress(f"[{dtype_name}] {done} honest sessions, {time.perf_counter() - started:.0f} s")
    if len(fitting) < 20:
        raise CalibrationError(
            f"[{dtype_name}] {len(fitting)} fitting sessions cannot fit a tail (20 at least): give --seconds more"
        )
    rate = TARGET_RATE / len(STATISTICS)
    entries: dict[tuple[int, int], SessionThresholds] = {}
    fits: dict[str, Any] = {}
    for span in run.spans():
        entries[span], fits[f"{span[0]}:{span[1]}"] = fit_thresholds([f[span] for f in fitting], rate)
    gains = {span: max(f[span].gain for f in fitting) for span in run.spans()}
    crafted = raise_for_crafted_inputs(run, entries, gains, crafted_seconds, progress)
    blocks = [entries[(b, b + 1)] for b in range(run.num_blocks)]
    ratios = composition_ratios(fitting, blocks)
    composition_fits = {name: fit_tail(values, rate).as_json() for name, values in ratios.items() if values}
    factors = {n: float(composition_fits[n]["threshold"]) if n in composition_fits else 1.0 for n in STATISTICS}
    composed = ToleranceDocument(
        source.model_id, dtype_name, hardware_class(), tuple(blocks), factors, "composed",
        device=device_kind(run.device), servers=tuple(sorted(run.served_by)),
    )  # fmt: skip
    document = replace(composed, spans=entries, source="calibration", gains=gains)
    progress(f"[{dtype_name}] fitted on {len(fitting)} sessions; composition factors "
             + ", ".join(f"{n} {f:.3g}" for n, f in factors.items()))  # fmt: skip
    held: dict[str, Any] = {"sessions": len(held_out), "per_span": _held_out(document, held_out, 1)}
    held["composed"] = _held_out(composed, held_out, 2)
    for label in ("per_span", "composed"):
        fp, n, bound = (held[label][k] for k in ("false_positives", "span_sessions", "false_positive_rate_upper_95"))
        progress(f"[{dtype_name}] held out, {label}: {fp} false positives in {n} span sessions (95% {bound:.2g}), "
                 f"{held[label]['false_positives_by_statistic']}")  # fmt: skip
    adversaries = {}
    for behavior in ADVERSARIES:
        measured = adversaries[behavior] = _adversary(run, document, composed, behavior, kept)
        progress(f"[{dtype_name}] {behavior}: caught in {measured['caught']} of {measured['sessions']} sessions "
                 f"({measured['caught_composed']} at composed thresholds)")  # fmt: skip
    stepwise = stepwise_exactness(run, kept)
    progress(f"[{dtype_name}] stepwise replay bit-exact: {stepwise['bit_exact']} over {stepwise['sessions']} "
             f"sessions at {stepwise['threads']} threads")  # fmt: skip
    return {
        "format": FORMAT,
        "model": source.model_id,
        "dtype": dtype_name,
        "hardware": document.hardware,
        "device": document.device,
        "servers": list(document.servers),
        "statistics": list(STATISTICS),
        "spans": {f"{a}:{b}": {name: t.value(name) for name in STATISTICS} for (a, b), t in entries.items()},
        "blocks": [{name: b.value(name) for name in STATISTICS} for b in blocks],
        "composition": {
            "rule": "a span without an entry: its blocks' thresholds summed, times the statistic's factor, and never "
            "below its largest block's",
            "factors": factors,
            "fits": composition_fits,
        },
        "fit": {
            "method": "generalised Pareto tail (scipy.stats.genpareto, location 0) on the exceedances over the "
            f"{1 - TAIL_FRACTION:.0%} quantile of the fitting sessions; threshold at the target rate, never below "
            "the largest fitting value; a fitted shape below 0 (bounded tail) is replaced by 0 (exponential)",
            "target_false_positive_rate_per_session": TARGET_RATE,
            "rate_per_statistic": rate,
            "seed": seed,
            "fitting_sessions": len(fitting),
            "spans": fits,
        },
        "sessions": {
            "batches": list(BATCHES),
            "prompt_tokens": list(PROMPT_TOKENS),
            "decode_steps": list(DECODE_STEPS),
            "served_on": served_on,
        },
        "crafted": crafted,
        "held_out": held,
        "adversaries": adversaries,
        "stepwise_replay": stepwise,
        "seconds": round(time.perf_counter() - started, 1),
    }


def raise_for_crafted_inputs(
    run: Calibration, entries: dict[tuple[int, int], SessionThresholds], gains: dict[tuple[int, int], float],
    seconds: float, progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    """Raise every span's fitted thresholds (in place) by ``MARGIN`` times the largest ratio, over all spans, of
    what crafted inputs gave an honest server (over its session's gain factor against the span's ordinary
    ``gains``) to the fitted threshold (``verifier.crafted``); what was found."""
    spans: dict[str, Any] = {}
    found: dict[tuple[int, int], dict[str, float]] = {}
    reach = dict.fromkeys(FAMILIES, 0.0)
    fitted = dict(entries)
    for start, end in run.spans():
        worst = worst_statistics(
            run.span(start, end), run.span(start, end, torch.float32), fitted[(start, end)], gains[(start, end)],
            seconds=seconds, rng=run.rng,
        )  # fmt: skip
        found[(start, end)] = worst.largest
        spans[f"{start}:{end}"] = worst.as_json() | {
            "fitted": {n: fitted[(start, end)].value(n) for n in STATISTICS},
            "gain_reference": gains[(start, end)],
        }
        for family, value in worst.by_family.items():
            reach[family] = max(reach[family], value)
    ratios = crafted_ratios(found, fitted)
    for span in entries:
        entries[span] = raise_by(fitted[span], ratios)
    progress(f"[{run.dtype_name}] crafted inputs reached, over the fitted thresholds: "
             + ", ".join(f"{f} {v:.2f}" for f, v in reach.items())
             + "; raised by " + ", ".join(f"{n} {max(1.0, MARGIN * r):.2f}×" for n, r in ratios.items()))  # fmt: skip
    return {
        "method": "on every span, a search over crafted inputs served honestly (verifier.crafted: Gaussian, scaled, "
        "sparse, repeated, gradient attacks through the span, and an evolution strategy on the honest error); per "
        "statistic, the largest ratio over all spans of a value found, over its session's gain factor, to its "
        "span's fitted threshold; every span's fitted threshold multiplied by the margin times that ratio, where "
        "that is more",
        "conditioning": "gain",
        "gain_rule": "a session whose gain (verifier.replay.StreamWatch) is beyond its span's gain_reference (the "
        "largest of the fitting sessions) is judged by thresholds times gain / gain_reference",
        "margin": MARGIN,
        "seconds_per_span": seconds,
        "ratios": ratios,
        "worst_severity_over_fitted_by_family": reach,
        "spans": spans,
    }


def _held_out(document: ToleranceDocument, sessions: list[SpanStatistics], shortest: int) -> dict[str, Any]:
    """False positives of the held-out sessions on every span of at least ``shortest`` blocks."""
    total = false = 0
    worst = 0.0
    by_statistic = dict.fromkeys(STATISTICS, 0)
    for spans in sessions:
        for (start, end), stats in spans.items():
            if end - start < shortest:
                continue
            thresholds = document.span(start, end).for_session(stats)
            total += 1
            exceeded = thresholds.exceeded(stats)
            false += bool(exceeded)
            for name in exceeded:
                by_statistic[name] += 1
            worst = max(worst, *thresholds.severity(stats).values())
    return {
        "span_sessions": total,  # spans of the held-out sessions: each one a session a server could serve
        "false_positives": false,
        "false_positives_by_statistic": by_statistic,
        "false_positive_rate_upper_95": false_positive_bound(false, total),
        "false_positive_rate_upper_95_by_sessions": false_positive_bound(false, len(sessions)),
        "largest_severity": worst,  # the honest statistic closest to its threshold (1: at the threshold)
    }


def _adversary(
    run: Calibration, document: ToleranceDocument, composed: ToleranceDocument, behavior: str,
    sessions: list[ServedSession],
) -> dict[str, Any]:  # fmt: skip
    """The share of held-out sessions (each on its random span) caught when ``behavior`` serves them, at the
    document's thresholds (and at the composed ones alone)."""
    spec = parse_behavior(behavior)
    cheaters = run.blocks
    if behavior in WEIGHT_CHANGES:
        cheaters = [Span.load(run.source, b, b + 1, run.dtype, run.device) for b in range(run.num_blocks)]
        for block in cheaters:
            perturb_weights(block.layers, behavior)
    caught = caught_composed = 0
    by_statistic, least = dict.fromkeys(STATISTICS, 0), float("inf")
    for index, served in enumerate(sessions):
        start, end = served.span
        inputs = served.states[start]
        runtime = BehaviorRuntime(spec, seed=index)
        if spec.noise_scale > 0:
            outputs = [runtime.finish_step(y) for y in served.states[end]]
        else:
            outputs = serve_chain(cheaters[start:end], inputs, runtime.skipped_blocks(start, end))
        stats = judge(replay_of(run.span(start, end), inputs), outputs)
        thresholds = document.span(start, end).for_session(stats)
        exceeded = thresholds.exceeded(stats)
        caught += bool(exceeded)
        caught_composed += bool(composed.span(start, end).for_session(stats).exceeded(stats))
        for name in exceeded:
            by_statistic[name] += 1
        least = min(least, max(thresholds.severity(stats).values()))
    return {
        "sessions": len(sessions),
        "caught": caught,
        "share_caught": caught / len(sessions) if sessions else 0.0,
        "caught_composed": caught_composed,
        "caught_by": by_statistic,
        "least_severity": least,  # the adversary's session closest to passing (above 1: caught)
    }


def stepwise_exactness(run: Calibration, sessions: list[ServedSession]) -> dict[str, Any]:
    """Whether a stepwise replay (one thread) reproduces the bits a server of each session's span computes at
    each thread count tried, and the block-by-block chain's of the calibration; the record and the shapes it
    covers (``verifier.escalation.ExactReplay``)."""
    threads = sorted({1, 2, os.cpu_count() or 1})
    before = torch.get_num_threads()
    differing = dict.fromkeys(threads, 0)
    try:
        for served in sessions:
            start, end = served.span
            span, inputs = run.span(start, end), served.states[start]
            torch.set_num_threads(1)
            replayed = replay_stepwise(span, inputs)
            chained = all(torch.equal(a, b) for a, b in zip(replayed, served.states[end], strict=True))
            for count in threads:
                torch.set_num_threads(count)
                served_here = replay_stepwise(span, inputs)  # what a server of the span computes
                same = all(torch.equal(a, b) for a, b in zip(served_here, replayed, strict=True))
                differing[count] += not (same and chained)
    finally:
        torch.set_num_threads(before)
    first = [s.states[s.span[0]][0] for s in sessions]
    record = measured_record(
        bool(sessions) and not any(differing.values()),
        threads,
        sorted({x.shape[0] for x in first}),
        max((x.shape[1] for x in first), default=0),
        max((sum(x.shape[1] for x in s.states[0]) for s in sessions), default=0),
    )
    return record | {"sessions": len(sessions), "differing_sessions_by_threads": differing}


def serve_chain(blocks: list[Span], inputs: list[torch.Tensor], skip: frozenset[int]) -> list[torch.Tensor]:
    """A span's outputs for a session's step inputs, served block by block with a KV cache each."""
    caches = [CacheState() for _ in blocks]
    outputs = []
    for x in inputs:
        for block, cache in zip(blocks, caches, strict=True):
            if block.start not in skip:
                x = block.forward(x, cache)
        outputs.append(x)
    return outputs


def calibrate(
    model: str, dtypes: list[str], *, seconds: float, max_sessions: int, adversary_sessions: int, seed: int,
    crafted_seconds: float = 4.0, progress: Progress = lambda _: None,
    device: torch.device | None = None, servers: dict[str, torch.device] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One tolerance document per dtype (``verifier.tolerance_document``), with its fit and measurements: replayed
    on ``device`` (the CPU by default), served on each of ``servers`` (the replay's device by default)."""
    torch.set_num_threads(1)
    source = resolve_model(model)
    head = ModelHead(source)
    return [
        calibrate_dtype(
            source,
            head,
            name,
            seconds=seconds,
            max_sessions=max_sessions,
            adversary_sessions=adversary_sessions,
            crafted_seconds=crafted_seconds,
            seed=seed,
            progress=progress,
            device=device,
            servers=servers,
        )
        for name in dtypes
    ]
