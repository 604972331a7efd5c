"""Comparison, replay and checking of evidence, on the real tiny model (no processes)."""

from __future__ import annotations

import os

import pytest
import torch

from swarmtrust.node.behaviors import BehaviorRuntime, parse_behavior
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import fingerprint, little_endian_bytes
from swarmtrust.protocol.evidence import Evidence
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.signing import Signed, sign_record
from swarmtrust.verifier.checking import check_evidence
from swarmtrust.verifier.replay import SpanCache, replay_session, replay_with_scales
from swarmtrust.verifier.tolerance import InnerScale, Tolerance, compare_step, load_tolerances
from tests.builders import new_key
from tests.node.swarm_helpers import tiny

SERVER = new_key()


def test_shipped_tolerances_load_for_every_dtype() -> None:
    tolerances = load_tolerances()
    assert tolerances.dtypes("tiny") == {"float32", "bfloat16", "float16"}
    assert (
        tolerances.span("tiny", 4, 8, "float32").step.max_rel < tolerances.span("tiny", 4, 8, "bfloat16").step.max_rel
    )


def float32_steps() -> Tolerance:
    return load_tolerances().span("tiny", 4, 8, "float32").step


def test_compare_step_measures_relative_errors() -> None:
    tolerance = Tolerance("float32", 1e-3, 1e-4)
    claimed = torch.tensor([[1.0, -2.0, 4.0]])
    assert compare_step(0, claimed, claimed.clone(), tolerance).passed
    off = compare_step(3, claimed, claimed + torch.tensor([[0.0, 0.0, 0.04]]), tolerance)
    assert off.step == 3 and off.max_rel == pytest.approx(0.01) and not off.passed
    assert not compare_step(0, claimed, claimed * float("nan"), tolerance).passed


def serve(span: Span, inputs: list[torch.Tensor], behavior: str = "honest") -> list[torch.Tensor]:
    runtime = BehaviorRuntime(parse_behavior(behavior), seed=3)
    state = CacheState()
    skip = runtime.skipped_blocks(span.start, span.end)
    return [runtime.finish_step(span.forward(x, state, skip=skip)) for x in inputs]


def evidence_of(
    span: Span, inputs: list[torch.Tensor], outputs: list[torch.Tensor], *, model_id: str = "tiny",
    timestamp_ms: int = 1,
) -> bytes:  # fmt: skip
    """A session's signed evidence as ``SERVER`` serves it, step ``k``'s receipt dated ``timestamp_ms + k``."""
    server, session, nonce = bytes(SERVER.verify_key), os.urandom(16), os.urandom(16)
    receipts: list[Signed[Receipt]] = []
    prev = None
    for step, (x, y) in enumerate(zip(inputs, outputs, strict=True)):
        fx, fy = fingerprint(x), fingerprint(y)
        receipt = Receipt(
            receipt_id_for(server, session, step), session, step, server, model_id, span.weights_digest, span.start,
            span.end, fx.dtype, fx.digest, fx.shape, fy.digest, fy.shape, prev, nonce, timestamp_ms + step,
        )  # fmt: skip
        receipts.append(sign_record(receipt, SERVER))
        prev = receipts[-1].digest
    return Evidence(
        tuple(r.to_wire() for r in receipts),
        tuple(bytes(little_endian_bytes(x)) for x in inputs),
        tuple(bytes(little_endian_bytes(y)) for y in outputs),
    ).encode()


@pytest.fixture(scope="module")
def session_inputs() -> list[torch.Tensor]:
    hidden = torch.randn(2, 20, 64, generator=torch.Generator().manual_seed(1))
    return [hidden[:, :8]] + [hidden[:, t : t + 1] for t in range(8, 20)]


def test_a_prefill_replay_reproduces_the_decode_steps(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    outputs = serve(span, session_inputs)
    for step, (got, want) in enumerate(zip(replay_session(span, session_inputs), outputs, strict=True)):
        assert compare_step(step, want, got, float32_steps()).passed


@pytest.mark.parametrize(
    ("behavior", "outcome"),
    [("honest", "pass"), ("noise:0.001", "fail"), ("skip-layers", "fail"), ("cheat-rate:0.3", "fail")],
)
def test_checking_evidence(session_inputs: list[torch.Tensor], behavior: str, outcome: str) -> None:
    span = Span.load(tiny(), 4, 8)
    encoded = evidence_of(span, session_inputs, serve(span, session_inputs, behavior))
    finding = check_evidence(encoded, bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.outcome == outcome, finding.detail
    assert finding.steps_checked == len(session_inputs)


def test_forged_evidence_is_invalid_not_a_failure(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    outputs = serve(span, session_inputs)
    encoded = evidence_of(span, session_inputs, outputs)
    evidence = Evidence.decode(encoded)
    forged = Evidence(
        evidence.receipts, evidence.inputs, (bytes(len(evidence.outputs[0] or b"")), *evidence.outputs[1:])
    )
    finding = check_evidence(forged.encode(), bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.outcome == "invalid_evidence"


def test_claiming_other_weights_fails(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    span.layer_digests = [bytes(32)] * 4  # the receipts will claim weights the model does not have
    encoded = evidence_of(span, session_inputs, serve(span, session_inputs))
    finding = check_evidence(encoded, bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.outcome == "fail" and "weights" in finding.detail


def test_a_session_without_its_first_steps_is_invalid_evidence_not_a_failure(
    session_inputs: list[torch.Tensor],
) -> None:
    span = Span.load(tiny(), 4, 8)
    evidence = Evidence.decode(evidence_of(span, session_inputs, serve(span, session_inputs)))
    suffix = Evidence(evidence.receipts[1:], evidence.inputs[1:], evidence.outputs[1:])
    finding = check_evidence(suffix.encode(), bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.outcome == "invalid_evidence" and "step 0" in finding.detail


@pytest.mark.parametrize("behavior", ["honest", "noise:0.001"])
def test_only_the_compared_steps_are_judged(session_inputs: list[torch.Tensor], behavior: str) -> None:
    span = Span.load(tiny(), 4, 8)
    evidence = Evidence.decode(evidence_of(span, session_inputs, serve(span, session_inputs, behavior)))
    sparse = Evidence(
        evidence.receipts, evidence.inputs, tuple(o if i in (0, 5, 9) else None for i, o in enumerate(evidence.outputs))
    )
    finding = check_evidence(sparse.encode(), bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.steps_checked == 3
    assert finding.outcome == ("pass" if behavior == "honest" else "fail")


def test_inputs_the_span_cannot_replay_are_invalid_evidence(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    mixed = [session_inputs[0], session_inputs[1][:1]]  # a batch of 2, then a step of batch 1
    outputs = [span.forward(mixed[0]), span.forward(mixed[1])]
    finding = check_evidence(
        evidence_of(span, mixed, outputs), bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances()
    )
    assert finding.outcome == "invalid_evidence" and "batch" in finding.detail


def test_inner_scales_judge_errors_against_what_the_blocks_summed() -> None:
    tolerance = Tolerance("float32", 1e-3, 1e-3)
    cancelled = torch.tensor([[1e-4, -1e-4, 2e-4]])  # a tiny output: its honest error came from inside
    replayed = cancelled + 1e-6
    assert not compare_step(0, cancelled, replayed, tolerance).passed
    inner = InnerScale(max_abs=10.0, mean_abs=5.0, finite=True)
    judged = compare_step(0, cancelled, replayed, tolerance, inner=inner)
    assert judged.passed and judged.max_rel == pytest.approx(1e-7, rel=1e-3)
    assert not compare_step(0, cancelled, cancelled + 0.1, tolerance, inner=inner).passed
    # an inner scale smaller than the output changes nothing: the claimed output's magnitude stays the floor
    ordinary = torch.tensor([[1.0, -2.0, 4.0]])
    small = InnerScale(max_abs=1e-3, mean_abs=1e-3, finite=True)
    assert compare_step(0, ordinary, ordinary + 0.04, tolerance, inner=small).max_rel == pytest.approx(0.01)


def test_a_session_whose_replay_is_not_finite_is_not_judged() -> None:
    tolerance = Tolerance("float32", 1e-3, 1e-3)
    claimed = torch.tensor([[1.0, float("nan")]])
    unjudged = compare_step(2, claimed, torch.tensor([[7.0, 1.0]]), tolerance, inner=InnerScale(1.0, 1.0, False))
    assert unjudged.passed and not unjudged.judged and unjudged.severity(tolerance) == 0.0
    finite = InnerScale(1.0, 1.0, True)
    assert not compare_step(2, claimed, torch.tensor([[1.0, 1.0]]), tolerance, inner=finite).passed


def test_replay_with_scales_matches_replay_session(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    plain = replay_session(span, session_inputs)
    scaled = replay_with_scales(span, session_inputs)
    outputs = serve(span, session_inputs)
    for step, (p, s, claimed) in enumerate(zip(plain, scaled, outputs, strict=True)):
        assert torch.equal(p, s.output) and s.inner.finite
        assert s.inner.max_abs >= float(p.abs().max()) and s.inner.mean_abs >= float(p.abs().mean()) * (1 - 1e-6)
        assert compare_step(step, claimed, s.output, float32_steps(), inner=s.inner).passed


def test_a_session_whose_inputs_make_the_replay_non_finite_is_invalid_evidence(
    session_inputs: list[torch.Tensor],
) -> None:
    span = Span.load(tiny(), 4, 8)
    poisoned = [session_inputs[0].clone(), *session_inputs[1:]]
    poisoned[0][0, 0, 0] = float("nan")  # what only the client can send
    encoded = evidence_of(span, poisoned, serve(span, poisoned))
    finding = check_evidence(encoded, bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances())
    assert finding.outcome == "invalid_evidence" and "non-finite" in finding.detail


def test_an_output_of_another_shape_than_the_span_gives_fails(session_inputs: list[torch.Tensor]) -> None:
    span = Span.load(tiny(), 4, 8)
    outputs = serve(span, session_inputs)
    outputs[2] = outputs[2][:, :, :32]  # signed, but not what the span computes
    finding = check_evidence(
        evidence_of(span, session_inputs, outputs), bytes(SERVER.verify_key), SpanCache(tiny()), load_tolerances()
    )
    assert finding.outcome == "fail" and "shape" in finding.detail
