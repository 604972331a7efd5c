"""From evidence to a finding: verify it against the signed digests, replay the span, compare each step."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.challenges import VerdictOutcome
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.evidence import Evidence, EvidenceError, verify_evidence
from swarmtrust.protocol.serving_dtypes import RegistrationHistory, config_dtype, dtype_fault
from swarmtrust.verifier.escalation import (
    DEFAULT_ESCALATION,
    EscalationPolicy,
    StepwiseCheck,
    check_stepwise,
    document_for,
    should_escalate,
)
from swarmtrust.verifier.replay import SpanCache, replay_with_scales
from swarmtrust.verifier.statistics import SessionStatistics, session_statistics, step_error
from swarmtrust.verifier.tolerance import StepComparison, Tolerance
from swarmtrust.verifier.tolerance_document import SpanTolerance, ToleranceError, Tolerances


class CheckingError(SwarmtrustError):
    """A challenge this verifier cannot judge (another model): it gives no verdict; the deadline passes."""


@dataclass(frozen=True)
class Finding:
    outcome: VerdictOutcome  # pass, fail, or invalid_evidence
    steps_checked: int
    worst: StepComparison | None
    tolerance: Tolerance | None  # the thresholds of ``worst``'s two figures
    detail: str
    statistics: SessionStatistics | None = None  # what the session was judged by


def check_evidence(
    encoded: bytes,
    server_key: bytes,
    spans: SpanCache,
    tolerances: Tolerances,
    *,
    registration: RegistrationHistory | None = None,
    escalation: EscalationPolicy | None = DEFAULT_ESCALATION,
) -> Finding:
    """Check one challenge's evidence.

    ``registration``: the model's registrations at the ledger (``protocol.serving_dtypes``). A session served in a
    dtype the model was not registered for at its first receipt's time (without a registration then: other
    than its config.json ``torch_dtype``) is a ``fail``, before any tolerance is looked up: a looser dtype
    never buys a looser tolerance, and a later registration never convicts what was allowed then.

    Evidence that does not match the server's signed digests, or does not start at the session's first
    step, is ``invalid_evidence`` (the submitter's fault, never the server's), and so is a session the span
    cannot replay (inputs whose shapes do not fit it, or that make the replay non-finite). A receipt claiming
    weights other than the model's is a ``fail``. Otherwise the whole session is replayed and judged by the
    session statistics of its compared steps (``verifier.statistics``: the prompt step's errors, the largest
    later step's, and the later steps' pooled error) against the thresholds of its (model, span, dtype),
    errors measured against the largest magnitude inside the span at each step
    (``verifier.tolerance.InnerScale``), which inputs a client crafts cannot shrink. With no thresholds for
    them in ``tolerances`` this verifier cannot judge: CheckingError (no verdict).

    A session that passes is escalated as ``escalation`` decides (``verifier.escalation``; None: never): replayed
    step by step as the server computed it, and compared bit for bit where that is exact (any differing bit
    fails, naming the first differing step), else judged again by its statistics.
    """
    try:
        evidence = Evidence.decode(encoded)
        receipts = verify_evidence(evidence, server_key)
    except (WireFormatError, EvidenceError) as exc:
        return Finding("invalid_evidence", 0, None, None, str(exc))
    first = receipts[0].record
    if first.model_id != spans.source.model_id:
        raise CheckingError(f"this verifier holds model {spans.source.model_id!r}, not {first.model_id!r}")
    fallback = config_dtype(spans.source.directory)
    fault = dtype_fault(first.dtype, first.timestamp_ms, registration, fallback, first.model_id)
    if fault is not None:
        return Finding("fail", 0, None, None, fault)
    try:
        thresholds = tolerances.span(
            first.model_id, first.block_start, first.block_end, first.dtype, device=spans.device_kind
        )
    except ToleranceError as exc:
        raise CheckingError(f"cannot judge this session: {exc}") from None
    tolerance = thresholds.prompt
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
    errors = [
        step_error(
            receipts[index].record.step,
            _tensor(output, dtype, receipts[index].record.output_shape),
            replayed[index].output,
            replayed[index].inner,
        )
        for index, output in enumerate(evidence.outputs)
        if output is not None
    ]
    if not errors:
        return Finding("invalid_evidence", 0, None, tolerance, "the evidence keeps no output to compare")
    statistics = session_statistics(errors)
    if not statistics.judged:
        # Only the submitted inputs can make an honest replay non-finite: no verdict on the server.
        return Finding("invalid_evidence", 0, None, tolerance, "the session's inputs make the computation non-finite")
    finding = _decide(statistics, thresholds, len(errors))
    if (
        finding.outcome != "pass"
        or escalation is None
        or not should_escalate(statistics, thresholds.suspicion_for(statistics), escalation.share, near=escalation.near)
    ):
        return finding
    kept = [
        (i, _tensor(data, dtype, receipts[i].record.output_shape))
        for i, data in enumerate(evidence.outputs)
        if data is not None
    ]
    compared, claimed = [i for i, _ in kept], [tensor for _, tensor in kept]
    document = document_for(tolerances, first.model_id, first.dtype)
    return _escalated(finding, thresholds, check_stepwise(span, document, inputs, compared, claimed, escalation))


def _escalated(finding: Finding, span: SpanTolerance, stepwise: StepwiseCheck) -> Finding:
    """A passing finding, judged again by its escalation."""
    if stepwise.statistics is None:  # compared bit for bit
        difference = stepwise.difference
        if difference is None:
            return replace(finding, detail=f"{finding.detail}; escalated: bit-identical to a stepwise replay")
        if finding.statistics is not None:  # the thresholds the prefill judged it by
            span = replace(span, thresholds=span.for_session(finding.statistics))
        tolerance = span.prompt if difference.step == 0 else span.decode
        # the figures of the differing step, within the tolerance (else the prefill had failed it)
        worst = StepComparison(difference.step, difference.max_rel, difference.mean_rel, False)
        detail = f"escalated: {difference.describe()}"
        return Finding("fail", finding.steps_checked, worst, tolerance, detail, finding.statistics)
    again = _decide(stepwise.statistics, span, finding.steps_checked)
    if again.outcome == "fail":
        return replace(again, detail=f"escalated to a stepwise replay ({stepwise.exact_refused}): {again.detail}")
    return replace(
        finding, detail=f"{finding.detail}; escalated: a stepwise replay passes too ({stepwise.exact_refused})"
    )


def _decide(statistics: SessionStatistics, span: SpanTolerance, steps: int) -> Finding:
    """The finding, with the verdict's figures taken from the prompt step or the decode steps, whichever
    failed (or came closest to failing): (max_rel, mean_rel) or (largest per-step max_rel, pooled_rel)."""
    thresholds = span.for_session(statistics)
    span = replace(span, thresholds=thresholds)  # the verdict reports the thresholds the session was judged by
    severity = thresholds.severity(statistics)
    prompt = max(severity["prompt_max_rel"], severity["prompt_mean_rel"])
    decode = max(severity["decode_max_rel"], severity["pooled_rel"]) if statistics.decode_steps else 0.0
    exceeded = thresholds.exceeded(statistics)
    passed = not exceeded
    if prompt >= decode:
        worst = StepComparison(0, statistics.prompt_max_rel, statistics.prompt_mean_rel, passed)
        tolerance = span.prompt
    else:
        worst = StepComparison(statistics.worst_decode_step, statistics.decode_max_rel, statistics.pooled_rel, passed)
        tolerance = span.decode
    if exceeded:
        over = ", ".join(f"{n} {statistics.value(n):.3g} > {thresholds.value(n):.3g}" for n in exceeded)
        return Finding("fail", steps, worst, tolerance, f"beyond the tolerance: {over}", statistics)
    detail = f"every statistic within the tolerance (the prompt and {statistics.decode_steps} later steps)"
    return Finding("pass", steps, worst, tolerance, detail, statistics)


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
