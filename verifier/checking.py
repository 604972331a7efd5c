"""From evidence to a finding: verify it against the signed digests, replay the span, compare each step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from node.errors import SwarmtrustError, WireFormatError
from node.evidence import Evidence, EvidenceError, verify_evidence
from node.tensors import TORCH_DTYPES
from verifier.replay import SpanCache, replay_session
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

    Evidence that does not match the server's signed digests is ``invalid_evidence`` (the submitter's
    fault, never the server's). A receipt claiming weights other than the model's is a ``fail``. Otherwise
    each step is compared, within the dtype's tolerance, with the replay.
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
    claimed = [_tensor(data, dtype, r.record.output_shape) for data, r in zip(evidence.outputs, receipts, strict=True)]
    replayed = replay_session(span, inputs)
    comparisons = [
        compare_step(receipt.record.step, want, got, tolerance)
        for receipt, want, got in zip(receipts, claimed, replayed, strict=True)
    ]
    worst = max(comparisons, key=lambda c: c.severity(tolerance))
    failed = [c.step for c in comparisons if not c.passed]
    if failed:
        return Finding("fail", len(comparisons), worst, tolerance, f"steps {failed} differ beyond the tolerance")
    return Finding("pass", len(comparisons), worst, tolerance, "every step within the tolerance")


def _tensor(data: bytes, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
