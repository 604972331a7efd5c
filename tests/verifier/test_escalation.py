"""Escalation to a stepwise replay, on the real tiny model: honest sessions replay bit for bit and never fail;
noise at 1e-3 on one decode step, which a prefill's tolerance lets through, fails exact comparison; exact
comparison is refused wherever it was not measured; the choice to escalate rests on OS randomness."""

from __future__ import annotations

import functools
import inspect
import random
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmtrust.node.behaviors import BehaviorRuntime, parse_behavior
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.serving_dtypes import RegistrationHistory
from swarmtrust.verifier.calibration import Calibration, stepwise_exactness
from swarmtrust.verifier.checking import Finding, check_evidence
from swarmtrust.verifier.escalation import (
    DEFAULT_ESCALATION,
    EscalationPolicy,
    ExactReplay,
    check_stepwise,
    exact_refusal,
    first_difference,
    measured_record,
    os_coin,
    replay_class,
    replay_stepwise,
    should_escalate,
)
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.statistics import STATISTICS, SessionStatistics, SessionThresholds
from swarmtrust.verifier.tolerance_document import ToleranceDocument, Tolerances
from swarmtrust.verifier.tolerance_records import hardware_class
from tests.node.swarm_helpers import tiny
from tests.verifier.test_tolerance_and_checking import SERVER, evidence_of

DTYPES = ("float32", "bfloat16", "float16")
ALLOWED = RegistrationHistory.allowing("tiny", *DTYPES)
EXACT = EscalationPolicy(share=1.0, exact=True)  # every check escalated, bits compared where allowed
LOOSE = 1.0  # thresholds no honest prefill comes near: the escalation alone decides
START, END = 2, 6


def measured(**changes: Any) -> dict[str, Any]:
    """A stepwise_replay record as a calibration on this machine writes it, with ``changes``."""
    return measured_record(True, [1, 2, torch.get_num_threads()], [1, 2, 4, 8], 64, 112) | changes


def document(dtype: str, stepwise: dict[str, Any] | None = None, threshold: float = LOOSE) -> ToleranceDocument:
    data: dict[str, Any] = {
        "format": 2, "model": "tiny", "dtype": dtype, "hardware": hardware_class(),
        "blocks": [dict.fromkeys(STATISTICS, threshold)] * 8, "composition": {"factors": {}},
        "crafted": {"margin": 2.0, "spans": {}},
    }  # fmt: skip
    if stepwise is not None:
        data["stepwise_replay"] = stepwise
    return ToleranceDocument.parse(data, "test")


@functools.cache
def span(dtype: str, start: int = START, end: int = END) -> Span:
    return Span.load(tiny(), start, end, TORCH_DTYPES[dtype])


def client_steps(dtype: str, seed: int, batch: int = 2, prompt: int = 12, decode: int = 16) -> list[torch.Tensor]:
    """Real token embeddings through blocks 0:2, as a client sends blocks 2:6: a prompt, then a token a step."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 259, (batch, prompt + decode), generator=generator)
    hidden = span(dtype, 0, START).forward(ModelHead(tiny()).embed(ids))
    return [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, prompt + decode)]


def serve(dtype: str, inputs: list[torch.Tensor], threads: int | None = None) -> list[torch.Tensor]:
    """As a block server of blocks 0:8 serves a session on 2:6: one KV cache, ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        state = CacheState()
        return [span(dtype, 0, 8).forward(x, state, start=START, end=END) for x in inputs]
    finally:
        torch.set_num_threads(before)


def check(
    dtype: str, inputs: list[torch.Tensor], outputs: list[torch.Tensor], doc: ToleranceDocument,
    policy: EscalationPolicy | None = EXACT,
) -> Finding:  # fmt: skip
    encoded = evidence_of(span(dtype), inputs, outputs)
    return check_evidence(
        encoded, bytes(SERVER.verify_key), SpanCache(tiny()), Tolerances([doc]), registration=ALLOWED,
        escalation=policy,
    )  # fmt: skip


def noisy_on(step: int, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Noise at 1e-3 of the output's RMS on one step only (``noise:0.001``'s corruption)."""
    changed = list(outputs)
    changed[step] = BehaviorRuntime(parse_behavior("noise:0.001"), seed=7).finish_step(outputs[step])
    assert not torch.equal(changed[step], outputs[step])  # the noise changed some bits
    return changed


# --- bit-exactness of the stepwise replay ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("server_threads", "verifier_threads"), [(1, 1), (2, 1), (1, 2)])
@pytest.mark.slow  # heavy: in the full tier only
def test_a_stepwise_replay_reproduces_an_honest_servers_bits(
    dtype: str, server_threads: int, verifier_threads: int
) -> None:
    """Measured on this CPU for tiny: the verifier's own span 2:6, fresh cache, bit-identical to a server of
    blocks 0:8 serving the session on 2:6, whichever of 1 or 2 threads either runs."""
    inputs = client_steps(dtype, 0)
    served = serve(dtype, inputs, server_threads)
    before = torch.get_num_threads()
    torch.set_num_threads(verifier_threads)
    try:
        replayed = replay_stepwise(span(dtype), inputs)
    finally:
        torch.set_num_threads(before)
    assert first_difference(range(len(inputs)), served, replayed) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_session_passes_escalation_bit_for_bit(dtype: str) -> None:
    inputs = client_steps(dtype, 1)
    finding = check(dtype, inputs, serve(dtype, inputs), document(dtype, measured()))
    assert finding.outcome == "pass", finding.detail
    assert "bit-identical to a stepwise replay" in finding.detail


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.slow  # heavy: in the full tier only
def test_noise_on_one_decode_step_passes_the_prefill_and_fails_exact_comparison(dtype: str) -> None:
    inputs = client_steps(dtype, 2)
    outputs = noisy_on(9, serve(dtype, inputs))
    doc = document(dtype, measured(), threshold=0.05)  # tighter than today's half-precision thresholds
    assert check(dtype, inputs, outputs, doc, policy=None).outcome == "pass"  # one prefill cannot see it
    finding = check(dtype, inputs, outputs, doc)
    assert finding.outcome == "fail"
    assert finding.detail.startswith("escalated: step 9 differs from the bit-exact stepwise replay")
    assert finding.worst is not None and finding.worst.step == 9 and not finding.worst.passed
    assert finding.tolerance is not None and finding.statistics is not None  # the verdict's figures and thresholds


def test_a_bit_difference_is_found_in_the_bits() -> None:
    """-0.0 and 0.0 compare equal as numbers and differ as bits; one NaN equals itself as bits."""
    claimed = torch.tensor([[0.0, float("nan"), 1.0]])
    assert first_difference([0], [claimed], [claimed.clone()]) is None
    difference = first_difference([0, 3], [claimed, -claimed], [claimed, claimed])
    assert difference is not None and difference.step == 3 and difference.differing == 3 and difference.values == 3
    wrong_shape = first_difference([5], [claimed], [claimed[:, :2]])
    assert wrong_shape is not None and wrong_shape.step == 5 and wrong_shape.max_rel == float("inf")


# --- when bits are not compared ---------------------------------------------------------------------------------

REFUSALS = {
    "policy off": ({}, EscalationPolicy(share=1.0), "exact comparison is off"),
    "not measured": ({"stepwise": None}, EXACT, "does not record stepwise replay as bit-exact"),
    "measured not exact": ({"bit_exact": False}, EXACT, "does not record stepwise replay as bit-exact"),
    "malformed": ({"threads": "many"}, EXACT, "does not record stepwise replay as bit-exact"),
    "another class": ({"class": "cpu x86_64 torch 2.13.0+cpu AVX2"}, EXACT, "not on this verifier's"),
    "other threads": ({"threads": [99]}, EXACT, "torch threads, measured with [99]"),
    "larger batch": ({"batches": [1]}, EXACT, "shaped unlike the measured ones"),
    "longer prompt": ({"max_first_tokens": 4}, EXACT, "shaped unlike the measured ones"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.slow  # heavy: in the full tier only
def test_exact_comparison_is_refused_where_it_was_not_measured(case: str) -> None:
    """Refused, the stepwise replay is judged by the thresholds: noise at 1e-3 passes them, as in a prefill."""
    changes, policy, why = REFUSALS[case]
    stepwise = None if changes.get("stepwise", {}) is None else measured(**changes)
    inputs = client_steps("bfloat16", 3)
    doc = document("bfloat16", stepwise)
    assert why in exact_refusal(doc, inputs, policy)
    finding = check("bfloat16", inputs, noisy_on(4, serve("bfloat16", inputs)), doc, policy)
    assert finding.outcome == "pass", finding.detail
    assert "; escalated: a stepwise replay passes too (" in finding.detail and why in finding.detail


def test_chunks_after_the_prompt_are_not_compared_bit_for_bit() -> None:
    inputs = client_steps("float32", 4)
    chunked = [inputs[0], torch.cat(inputs[1:4], dim=1), *inputs[4:]]
    assert "multi-token chunks" in exact_refusal(document("float32", measured()), chunked, EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.slow  # heavy: in the full tier only
def test_without_exact_comparison_the_stepwise_replay_gives_statistics_nearer_the_server(dtype: str) -> None:
    """Judged by statistics, an honest session's stepwise replay differs by nothing at all here, and the
    noise of one step shows in the pooled error of the later steps."""
    inputs = client_steps(dtype, 5)
    honest = serve(dtype, inputs)
    steps = list(range(len(inputs)))
    doc = document(dtype, None)
    calm = check_stepwise(span(dtype), doc, inputs, steps, honest, EXACT)
    assert calm.statistics is not None and calm.difference is None and "does not record" in calm.exact_refused
    assert all(calm.statistics.value(name) == 0.0 for name in STATISTICS)
    noisy = check_stepwise(span(dtype), doc, inputs, steps, noisy_on(6, honest), EXACT)
    assert noisy.statistics is not None and noisy.statistics.pooled_rel > 0 and noisy.statistics.prompt_max_rel == 0
    exact = check_stepwise(span(dtype), document(dtype, measured()), inputs, steps, noisy_on(6, honest), EXACT)
    assert exact.statistics is None and exact.difference is not None and exact.difference.step == 6


# --- the decision ------------------------------------------------------------------------------------------------

statistic = st.floats(min_value=0.0, max_value=1e3, allow_nan=False)
threshold = st.floats(min_value=1e-9, max_value=1e3, allow_nan=False)
fraction = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(
    st.lists(statistic, min_size=4, max_size=4), st.lists(threshold, min_size=4, max_size=4),
    st.floats(min_value=1e-3, max_value=1.0), fraction, fraction,
)  # fmt: skip
def test_escalation_is_nearness_or_the_coin(
    values: list[float], limits: list[float], near: float, share: float, coin: float
) -> None:
    stats = SessionStatistics(*values, decode_steps=3, worst_decode_step=1)
    thresholds = SessionThresholds(*limits)
    is_near = any(v / t >= near for v, t in zip(values, limits, strict=True))
    decided = should_escalate(stats, thresholds, share, coin, near=near)
    if coin >= share:
        assert decided == is_near  # never below ``near``, always at or above it
    else:
        assert decided  # the coin escalates whatever the statistics
    unjudged = SessionStatistics(0.0, 0.0, 0.0, 0.0, 0, 0, judged=False)  # no verdict: nothing to escalate
    assert not should_escalate(unjudged, thresholds, share, coin, near=near)


def test_the_coin_comes_from_the_operating_system() -> None:
    """Re-seeding every generator a server could know repeats nothing: the coin is ``secrets``'."""
    assert inspect.signature(should_escalate).parameters["coin"].default is None  # None: ``os_coin``
    calm = SessionStatistics(0.0, 0.0, 0.0, 0.0, 0, 0)
    thresholds = SessionThresholds(1.0, 1.0, 1.0, 1.0)
    decisions, coins = set(), set()
    for _ in range(64):
        random.seed(0)
        torch.manual_seed(0)
        decisions.add(should_escalate(calm, thresholds, 0.5))
        coins.add(os_coin())
    assert decisions == {True, False}  # a seeded generator would have given one answer 64 times
    assert len(coins) == 64 and all(0.0 <= c < 1.0 for c in coins)
    assert not should_escalate(calm, thresholds, 0.0) and should_escalate(calm, thresholds, 1.0)


def test_a_policy_refuses_nonsense_and_rechecks_always_escalate() -> None:
    for bad in ({"near": 0.0}, {"near": 1.5}, {"share": -0.1}, {"share": 2.0}, {"near": float("nan")}):
        with pytest.raises(ValueError, match="must be a fraction"):
            EscalationPolicy(**bad)
    assert DEFAULT_ESCALATION.for_round("initial") == DEFAULT_ESCALATION
    assert DEFAULT_ESCALATION.for_round("dispute").share == DEFAULT_ESCALATION.for_round("audit").share == 1.0
    assert not DEFAULT_ESCALATION.exact  # receipts do not say what a server runs on: see verifier.escalation


# --- an honest server never fails ---------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(DTYPES), st.sampled_from([1, 2, 4]), st.integers(1, 20), st.integers(0, 6),
    st.booleans(), st.integers(0, 2**31),
)  # fmt: skip
@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_session_never_fails_an_escalated_check(
    dtype: str, batch: int, prompt: int, decode: int, exact: bool, seed: int
) -> None:
    inputs = client_steps(dtype, seed, batch, prompt, decode)
    policy = EscalationPolicy(share=1.0, exact=exact)
    finding = check(dtype, inputs, serve(dtype, inputs), document(dtype, measured()), policy)
    assert finding.outcome == "pass", finding.detail
    assert "escalated" in finding.detail


# --- calibration measures it ----------------------------------------------------------------------------------


@pytest.mark.slow  # heavy: in the full tier only
def test_calibration_records_whether_a_stepwise_replay_is_bit_exact() -> None:
    run = Calibration(tiny(), ModelHead(tiny()), "bfloat16", seed=5)
    sessions = [run.session() for _ in range(2)]
    record = stepwise_exactness(run, sessions)
    assert record["bit_exact"] is True and record["sessions"] == 2 and record["class"] == replay_class()
    assert record["threads"][:2] == [1, 2] and not any(record["differing_sessions_by_threads"].values())
    parsed = ExactReplay.of(document("bfloat16", record))
    assert parsed is not None and parsed.bit_exact and parsed.threads == tuple(record["threads"])
    assert stepwise_exactness(run, [])["bit_exact"] is False  # nothing measured: not exact
