"""Checks by session statistics in bfloat16 and float16, on the real tiny model with the shipped tolerances:
honest sessions pass; quantised weights, noise at 1% and skipped layers fail; no thresholds, no verdict."""

from __future__ import annotations

import functools

import pytest
import torch

from swarmtrust.node.behaviors import WEIGHT_CHANGES, BehaviorRuntime, parse_behavior, perturb_weights
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.serving_dtypes import RegistrationHistory
from swarmtrust.verifier.checking import CheckingError, Finding, check_evidence
from swarmtrust.verifier.escalation import EscalationPolicy
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance import load_tolerances
from swarmtrust.verifier.tolerance_document import Tolerances
from tests.node.swarm_helpers import tiny
from tests.verifier.exactness import needs_shipped_exactness
from tests.verifier.test_tolerance_and_checking import SERVER, evidence_of

START, END = 2, 6
ALLOWED = RegistrationHistory.allowing("tiny", *TORCH_DTYPES)


@functools.cache
def span_of(dtype: str, behavior: str = "honest") -> Span:
    span = Span.load(tiny(), START, END, TORCH_DTYPES[dtype])
    if behavior in WEIGHT_CHANGES:
        perturb_weights(span.layers, behavior)  # the receipts still name the real weights' digest
    return span


def client_steps(dtype: str, seed: int, batch: int = 2, prompt: int = 12, decode: int = 24) -> list[torch.Tensor]:
    """What a client sends blocks 2:6: real token embeddings through blocks 0:2, a prompt then one token a step."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 259, (batch, prompt + decode), generator=generator)
    hidden = Span.load(tiny(), 0, START, TORCH_DTYPES[dtype]).forward(ModelHead(tiny()).embed(ids))
    return [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, prompt + decode)]


def serve(dtype: str, inputs: list[torch.Tensor], behavior: str = "honest") -> list[torch.Tensor]:
    """As a block server computes (one KV cache for the session), cheating as ``behavior`` says."""
    span = span_of(dtype, behavior)
    runtime = BehaviorRuntime(parse_behavior(behavior), seed=3)
    state = CacheState()
    skip = runtime.skipped_blocks(START, END)
    return [runtime.finish_step(span.forward(x, state, skip=skip)) for x in inputs]


def check(
    dtype: str,
    seed: int,
    behavior: str = "honest",
    tolerances: Tolerances | None = None,
    escalation: EscalationPolicy | None = None,
) -> Finding:
    """Judged by the prefill statistics alone unless an ``escalation`` policy is given."""
    inputs = client_steps(dtype, seed)
    encoded = evidence_of(span_of(dtype), inputs, serve(dtype, inputs, behavior))
    chosen = tolerances if tolerances is not None else load_tolerances()
    return check_evidence(
        encoded, bytes(SERVER.verify_key), SpanCache(tiny()), chosen, registration=ALLOWED, escalation=escalation
    )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_half_precision_session_passes(dtype: str, seed: int) -> None:
    finding = check(dtype, seed)
    assert finding.outcome == "pass", finding.detail
    assert finding.statistics is not None and finding.statistics.decode_steps == 24
    assert finding.worst is not None and finding.tolerance is not None and finding.worst.passed


# What one prefill's statistics catch on this span at the shipped thresholds, which stand above what crafted
# inputs give an honest server (docs/verification.md, "What the checks catch"); the rest pass them here, and a
# stepwise replay compared bit for bit catches them (below).
CAUGHT_BY_STATISTICS = [
    ("bfloat16", "fp8-weights"), ("bfloat16", "skip-layers"), ("float16", "noise:0.01"), ("float16", "int8-weights"),
    ("float16", "wrong-weights"),
]  # fmt: skip
MISSED_BY_STATISTICS = [  # one of each kind (noise, weights) per dtype where one passes: each check costs seconds
    ("bfloat16", "noise:0.01"), ("bfloat16", "int8-weights"), ("float16", "noise:0.003"),
]  # fmt: skip


@pytest.mark.parametrize(("dtype", "behavior"), CAUGHT_BY_STATISTICS)
@pytest.mark.slow  # heavy: in the full tier only
def test_a_cheating_half_precision_session_fails(dtype: str, behavior: str) -> None:
    finding = check(dtype, 0, behavior)
    assert finding.outcome == "fail", (behavior, finding.detail)
    assert "beyond the tolerance" in finding.detail
    worst, tolerance = finding.worst, finding.tolerance
    assert worst is not None and tolerance is not None and not worst.passed
    # the verdict's figures are the statistic pair that failed, with its thresholds
    assert worst.max_rel > tolerance.max_rel or worst.mean_rel > tolerance.mean_rel


@needs_shipped_exactness
@pytest.mark.parametrize(("dtype", "behavior"), MISSED_BY_STATISTICS)
@pytest.mark.slow  # heavy: in the full tier only
def test_what_the_prefill_statistics_miss_fails_a_stepwise_replay_bit_for_bit(dtype: str, behavior: str) -> None:
    """Cheats within one prefill's thresholds on this span, replayed step by step as the server computed them, with
    bits compared (the shipped document measured that replay exact here): they fail, and the honest server passes."""
    exact = EscalationPolicy(share=1.0, exact=True)
    assert check(dtype, 0, behavior).outcome == "pass"  # the prefill alone lets it through
    finding = check(dtype, 0, behavior, escalation=exact)
    assert finding.outcome == "fail", finding.detail
    assert check(dtype, 0, escalation=exact).outcome == "pass"  # the honest server's bits match


@pytest.mark.slow  # heavy: in the full tier only
def test_a_dtype_without_thresholds_gets_no_verdict() -> None:
    float32_only = Tolerances([doc for doc in load_tolerances() if doc.dtype == "float32"])
    with pytest.raises(CheckingError, match=r"no tolerance is calibrated for tiny in bfloat16.*verifier calibrate"):
        check("bfloat16", 0, tolerances=float32_only)
    with pytest.raises(CheckingError, match="no tolerance is calibrated for tiny in float16"):
        check("float16", 0, tolerances=Tolerances([]))
    assert check("float32", 0, tolerances=float32_only).outcome == "pass"
