"""Escalation: replaying a session step by step, the server's way, for what one prefill cannot see.

A check replays a session as one prefill (``verifier.replay``), which takes other kernel paths than the
server's prefill-then-decode, so it must tolerate rounding differences as large as a cheap cheat's (noise at
1e-3 of the output in bfloat16 passes most sessions). A verifier can instead redo exactly what the server
did: the same chunks, the same batch, a fresh KV cache (``replay_stepwise``). Where that replay is
bit-exact, any differing bit is a cheat; elsewhere it is compared within the calibrated thresholds.

When: a check whose statistics come near their thresholds (``EscalationPolicy.near``), and a share of all
others drawn with OS randomness (``os_coin``: a server cannot predict, from anything it sees, which checks
are escalated), and every re-check of a disputed or audited verdict (``EscalationPolicy.for_round``), so a
failure found by exact comparison is reproduced by the verifiers that re-check it.

Exact comparison (``exact_refusal``) needs all of: the policy allows it (``EscalationPolicy.exact``: only
where honest servers serve on the document's hardware class, since receipts do not say what a server ran
on); the document was calibrated on this verifier's hardware class and measured stepwise replay bit-exact
there across thread counts (its ``stepwise_replay`` record, written by ``verifier.calibration``); this
verifier runs one of those thread counts; and the session is shaped as the measured ones were. Otherwise
the stepwise replay is judged by the same session statistics and thresholds as the prefill: it is closer to
the server's computation, but an honest server on other hardware differs from it as much as from a
prefill, and no honest run of other hardware was measured to fit tighter thresholds on.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.verifier.replay import ReplayedStep, StreamWatch
from swarmtrust.verifier.statistics import (
    STATISTICS,
    SessionStatistics,
    SessionThresholds,
    session_statistics,
    step_error,
)
from swarmtrust.verifier.tolerance import InnerScale
from swarmtrust.verifier.tolerance_document import ToleranceDocument, Tolerances
from swarmtrust.verifier.tolerance_records import hardware_class

NEAR = 0.5  # escalate a check whose statistic reaches this fraction of its threshold
SHARE = 0.05  # and this share of the others (chosen by cost: docs/BENCHMARKS.md, escalation)
RECHECK_ROUNDS = frozenset({"audit", "dispute"})  # rounds that re-check a verdict: always escalated
_INT_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}  # bits of a float, by item size


@dataclass(frozen=True)
class EscalationPolicy:
    """When a check is escalated to a stepwise replay, and whether its bits may be compared exactly."""

    near: float = NEAR  # fraction of a threshold a statistic reaches to escalate, in (0, 1]
    share: float = SHARE  # share of the other checks escalated at random (OS randomness), in [0, 1]
    exact: bool = False  # compare bits where the document allows it (see the module docstring: off unless
    # the swarm's honest servers all serve on the calibrated hardware class)

    def __post_init__(self) -> None:
        if not 0.0 < self.near <= 1.0:
            raise ValueError(f"near must be a fraction of the threshold in (0, 1], not {self.near!r}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be a fraction of the checks in [0, 1], not {self.share!r}")

    def for_round(self, round_name: str) -> EscalationPolicy:
        """The policy for one assignment: a re-check (audit, dispute) always escalates, so that every verifier
        of a challenge judges a session the same way."""
        return replace(self, share=1.0) if round_name in RECHECK_ROUNDS else self


DEFAULT_ESCALATION = EscalationPolicy()


def os_coin() -> float:
    """A uniform draw in [0, 1) from the operating system's randomness (``secrets``): no seed a server could
    know or guess reproduces it."""
    return secrets.randbits(53) / (1 << 53)


def should_escalate(
    statistics: SessionStatistics,
    thresholds: SessionThresholds,
    share: float = SHARE,
    coin: float | None = None,
    *,
    near: float = NEAR,
) -> bool:
    """Whether a check escalates: a statistic at or above ``near`` of its threshold, or ``coin`` (drawn by
    ``os_coin`` when None) under ``share``. A session that could not be judged is never escalated."""
    if not statistics.judged:
        return False
    severity = thresholds.severity(statistics)
    if any(severity[name] >= near for name in STATISTICS):
        return True
    return (os_coin() if coin is None else coin) < share


def replay_stepwise(span: Span, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The span's output for each step as a server computes it: step by step on a fresh KV cache."""
    state = CacheState()
    return [span.forward(x, state) for x in inputs]


def replay_stepwise_with_scales(span: Span, inputs: Sequence[torch.Tensor]) -> list[ReplayedStep]:
    """As ``replay_stepwise``, with each step's inner magnitudes (``verifier.replay.ResidualReplay``'s, taken
    step by step); ``inner.finite`` is session-wide, as there."""
    watches: list[StreamWatch] = []  # one per step: its forward pass
    outputs = []
    state = CacheState()
    with span.observing_residual_stream(lambda hidden: watches[-1].observe(hidden)):
        for x in inputs:
            watches.append(StreamWatch(x.shape[0], x.shape[1]))
            watches[-1].observe(x.to(span.dtype))
            outputs.append(span.forward(x, state))
    finite = all(watch.finite for watch in watches)
    return [
        ReplayedStep(
            output,
            InnerScale(float(w.largest.max()), float(w.typical.mean()), finite, float(w.gain.max())),
        )
        for output, w in zip(outputs, watches, strict=True)
    ]


@dataclass(frozen=True)
class BitDifference:
    """The first compared step whose claimed output is not bit-identical to the stepwise replay."""

    step: int
    differing: int  # values whose bits differ
    values: int  # values in the step
    max_rel: float  # the step's errors as ``verifier.statistics.step_error`` measures them (no inner scales)
    mean_rel: float

    def describe(self) -> str:
        return (
            f"step {self.step} differs from the bit-exact stepwise replay in {self.differing} of {self.values} "
            f"values (max_rel {self.max_rel:.3g})"
        )


def first_difference(
    steps: Sequence[int], claimed: Sequence[torch.Tensor], replayed: Sequence[torch.Tensor]
) -> BitDifference | None:
    """The first of the compared ``steps`` whose ``claimed`` output differs in any bit from ``replayed``
    (compared as bits: a NaN equals the same NaN, 0.0 differs from -0.0); None when all are identical."""
    for step, got, want in zip(steps, claimed, replayed, strict=True):
        if got.shape != want.shape or got.dtype != want.dtype:
            return BitDifference(step, got.numel(), got.numel(), math.inf, math.inf)
        view = _INT_VIEWS[got.element_size()]
        count = int((got.contiguous().view(view) != want.contiguous().view(view)).sum())
        if count:
            error = step_error(step, got, want, None)
            return BitDifference(step, count, got.numel(), error.max_rel, error.mean_rel)
    return None


@dataclass(frozen=True)
class ExactReplay:
    """A document's measurement of stepwise replay (its ``stepwise_replay`` record, see ``measured_record``)."""

    bit_exact: bool  # every measured session's stepwise replay equalled the served outputs, at every thread count
    replay_class: str  # ``replay_class()`` of the machine that measured it
    threads: tuple[int, ...]  # the torch thread counts served and replayed
    batches: tuple[int, ...]  # the batch sizes of the measured sessions
    max_first_tokens: int  # the longest first chunk (prompt) measured
    max_positions: int  # the longest session measured, in positions

    @classmethod
    def of(cls, document: ToleranceDocument) -> ExactReplay | None:
        """The document's record; None when it has none or one that does not read as this class writes it."""
        record = document.stepwise
        try:
            return cls(
                record["bit_exact"] is True,
                str(record["class"]),
                tuple(int(t) for t in record["threads"]),
                tuple(int(b) for b in record["batches"]),
                int(record["max_first_tokens"]),
                int(record["max_positions"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def replay_class() -> str:
    """What must match for a stepwise replay to reproduce bits: ``hardware_class()`` (device, architecture,
    torch version) and the CPU's vector instruction set, which picks torch's kernels (AVX2 and AVX512 round
    differently)."""
    return f"{hardware_class()} {torch.backends.cpu.get_cpu_capability()}"


def measured_record(
    bit_exact: bool, threads: Sequence[int], batches: Sequence[int], max_first_tokens: int, max_positions: int
) -> dict[str, Any]:
    """The ``stepwise_replay`` record a calibration writes into its document (``ExactReplay.of`` reads it)."""
    return {
        "bit_exact": bit_exact,
        "class": replay_class(),
        "threads": list(threads),
        "batches": list(batches),
        "max_first_tokens": max_first_tokens,
        "max_positions": max_positions,
    }


def exact_refusal(document: ToleranceDocument, inputs: Sequence[torch.Tensor], policy: EscalationPolicy) -> str:
    """Why a session may not be compared bit for bit ('' when it may): see the module docstring."""
    if not policy.exact:
        return "exact comparison is off"
    if document.servers != (document.device,):
        return f"honest servers on {', '.join(document.servers)} compute other bits than replays on {document.device}"
    measured = ExactReplay.of(document)
    if measured is None or not measured.bit_exact:
        return f"the {document.dtype} document does not record stepwise replay as bit-exact"
    if document.hardware != hardware_class() or measured.replay_class != replay_class():
        return f"measured on {measured.replay_class!r}, not on this verifier's {replay_class()!r}"
    if torch.get_num_threads() not in measured.threads:
        return f"this verifier runs {torch.get_num_threads()} torch threads, measured with {list(measured.threads)}"
    batch, first = inputs[0].shape[0], inputs[0].shape[1]
    positions = sum(x.shape[1] for x in inputs)
    if batch not in measured.batches or first > measured.max_first_tokens or positions > measured.max_positions:
        return "the session is shaped unlike the measured ones"
    if any(x.shape[1] != 1 for x in inputs[1:]):
        return "the session has multi-token chunks after its prompt, which were not measured"
    return ""


@dataclass(frozen=True)
class StepwiseCheck:
    """An escalated check's result: bits compared (``statistics`` None; ``difference`` None when identical),
    or the stepwise replay's session statistics (``exact_refused`` says why not bits)."""

    difference: BitDifference | None
    statistics: SessionStatistics | None  # None under exact comparison
    exact_refused: str = ""


def document_for(tolerances: Tolerances, model: str, dtype: str) -> ToleranceDocument | None:
    return next((d for d in tolerances if d.model == model and d.dtype == dtype), None)


def check_stepwise(
    span: Span,
    document: ToleranceDocument | None,
    inputs: Sequence[torch.Tensor],
    compared: Sequence[int],
    claimed: Sequence[torch.Tensor],
    policy: EscalationPolicy,
) -> StepwiseCheck:
    """Replay a session step by step and compare the ``claimed`` outputs of its ``compared`` steps (indices
    into ``inputs``, which start at step 0): bit for bit where ``exact_refusal`` allows it, else by session
    statistics (for the caller to judge against the same thresholds as the prefill's)."""
    refused = "no tolerance document" if document is None else exact_refusal(document, inputs, policy)
    if not refused:
        outputs = replay_stepwise(span, inputs)
        difference = first_difference(compared, claimed, [outputs[i] for i in compared])
        return StepwiseCheck(difference, None)
    replayed = replay_stepwise_with_scales(span, inputs)
    errors = [
        step_error(i, got, replayed[i].output, replayed[i].inner) for i, got in zip(compared, claimed, strict=True)
    ]
    return StepwiseCheck(None, session_statistics(errors), refused)
