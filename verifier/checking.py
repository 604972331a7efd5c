"""From evidence to a finding: verify it against the signed digests, replay the span, compare each step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from node.errors import SwarmtrustError, WireFormatError
from node.evidence import Evidence, EvidenceError, verify_evidence
from node.tensors import TORCH_DTYPES
from verifier.replay import SpanCache, replay_with_scales
from verifier.tolerance import StepComparison, Tolerance, compare_step


class CheckingError(SwarmtrustError):
    """A challenge this verifier cannot judge (another model): it gives no verdict; the deadline passes."""


@dataclass(frozen=True)
class Finding:
    outcome: str  # pass, fail, or invalid_evidence
    steps_checked: int
    worst: StepComparison | None
    tolerance: Tolerance | None
    detail: str


def check_evidence(encoded: bytes, server_key: bytes, spans: SpanCache, tolerances: dict[str, Tolerance]) -> Finding:
    """Check one challenge's evidence.

    Evidence that does not match the server's signed digests, or does not start at the session's first
    step, is ``invalid_evidence`` (the submitter's fault, never the server's), and so is a session the span
    cannot replay (inputs whose shapes do not fit it, or that make the replay non-finite). A receipt claiming
    weights other than the model's is a ``fail``. Otherwise the whole session is replayed and each compared
    step is checked against the replay within the dtype's tolerance, errors measured against the largest
    magnitude inside the span at that step (``verifier.tolerance.InnerScale``), which inputs a client crafts
    cannot shrink.
    """
    try:
        evidence = Evidence.decode(encoded)
        receipts = verify_evidence(evidence, server_key)
    except (WireFormatError, EvidenceError) as exc:
        return Finding("invalid_evidence", 0, None, None, str(exc))
    first = receipts[0].record
    tolerance = tolerances.get(first.dtype)
    if tolerance is None:
        return Finding("invalid_evidence", 0, None, None, f"no tolerance is calibrated for dtype {first.dtype}")
    if first.model_id != spans.source.model_id:
        raise CheckingError(f"this verifier holds model {spans.source.model_id!r}, not {first.model_id!r}")
    span = spans.span(first.block_start, first.block_end, first.dtype)
    if first.weights_digest != span.weights_digest:
        return Finding("fail", 0, None, tolerance, "the receipts claim weights other than the model's")
    dtype = TORCH_DTYPES[first.dtype]
    inputs = [_tensor(data, dtype, r.record.input_shape) for data, r in zip(evidence.inputs, receipts, strict=True)]
    unfit = _unreplayable(inputs, span.hidden_size)
    if unfit:
        return Finding("invalid_evidence", 0, None, tolerance, unfit)
    replayed = replay_with_scales(span, inputs)
    for index, output in enumerate(evidence.outputs):
        r = receipts[index].record
        if output is not None and tuple(r.output_shape) != tuple(replayed[index].output.shape):
            # The server signed an output of another shape than its input's: not what the span computes.
            return Finding(
                "fail", 1, None, tolerance, f"step {r.step}: output shape {r.output_shape} is not the span's"
            )
    comparisons = [
        compare_step(
            receipts[index].record.step,
            _tensor(output, dtype, receipts[index].record.output_shape),
            replayed[index].output,
            tolerance,
            inner=replayed[index].inner,
        )
        for index, output in enumerate(evidence.outputs)
        if output is not None
    ]
    if not any(c.judged for c in comparisons):
        # Only the submitted inputs can make an honest replay non-finite: no verdict on the server.
        return Finding("invalid_evidence", 0, None, tolerance, "the session's inputs make the computation non-finite")
    worst = max(comparisons, key=lambda c: c.severity(tolerance))
    failed = [c.step for c in comparisons if not c.passed]
    if failed:
        return Finding("fail", len(comparisons), worst, tolerance, f"steps {failed} differ beyond the tolerance")
    return Finding("pass", len(comparisons), worst, tolerance, "every compared step within the tolerance")


def _unreplayable(inputs: list[torch.Tensor], hidden_size: int) -> str:
    """Why a session's inputs cannot be one prefill of the span ('' when they can). A server that took such
    inputs step by step answered something a replay cannot reproduce: no verdict on it can be fair."""
    for step, tensor in enumerate(inputs):
        if tensor.dim() != 3 or tensor.shape[2] != hidden_size or tensor.shape[1] == 0:
            return f"step {step}: input of shape {tuple(tensor.shape)} is not (batch, tokens, {hidden_size})"
        if tensor.shape[0] != inputs[0].shape[0]:
            return f"step {step}: batch {tensor.shape[0]} differs from the session's {inputs[0].shape[0]}"
    return ""


def _tensor(data: bytes, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
