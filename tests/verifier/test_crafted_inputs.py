"""Inputs a client crafts cannot make an honest server's replay fail (and cheaters still fail on them).

A client chooses the hidden states it sends and holds the public weights, so it can optimise them: make a
span's output cancel its input, make the residual stream bulge inside the span, send huge, tiny, sparse,
repeated or non-finite states. The server computes them honestly (a prefill, then one-token decode steps
with a KV cache); the verifier replays the session as one prefill, exactly as ``verifier.checking`` does.
In float32 they are judged at the lowest per-step tolerance a document may hold (``FLOORS``); in bfloat16 and
float16 by the session statistics at the shipped thresholds, which calibration raised above what its own search
of crafted inputs found (``verifier.crafted``).
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Iterator
from importlib import resources

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmtrust.node.behaviors import BehaviorRuntime, parse_behavior
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.verifier.crafted import FAMILIES as FAMILIES_CRAFTED
from swarmtrust.verifier.crafted import (
    MARGIN,
    Session,
    ascend,
    crafted_ratios,
    honest_statistics,
    raise_by,
    worst_statistics,
)
from swarmtrust.verifier.crafted import crafted as crafted_inputs
from swarmtrust.verifier.replay import StreamWatch, replay_session, replay_with_scales
from swarmtrust.verifier.statistics import GAIN_CAP, STATISTICS, SessionThresholds, session_statistics, step_error
from swarmtrust.verifier.tolerance import StepComparison, Tolerance, compare_step, load_tolerances
from swarmtrust.verifier.tolerance_document import FLOORS, SpanTolerance
from tests.node.swarm_helpers import tiny

SPANS = ((0, 4), (4, 8), (3, 4))
FAMILIES = ("gaussian", "sparse", "repeated", "cancel", "cancel-inner", "bulge", "non-finite")
ATTACKS = {"cancel", "cancel-inner", "bulge"}  # optimised through the span by gradient descent


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Crafting runs hundreds of small backward passes: a second thread only contends on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def span_of(start: int, end: int) -> Span:
    span = Span.load(tiny(), start, end)
    for layer in span.layers:
        layer.requires_grad_(False)
    return span


def float32(span: Span) -> Tolerance:
    """The shipped per-step thresholds of the span (the looser of its prompt's and later steps')."""
    return load_tolerances().span("tiny", span.start, span.end, "float32").step


def residual_states(span: Span, hidden: torch.Tensor) -> list[torch.Tensor]:
    """Input, every half-block and the output, differentiably (``Span.forward`` runs in inference mode)."""
    states = [hidden]
    with span.observing_residual_stream(states.append):
        Span.forward.__wrapped__(span, hidden)  # type: ignore[attr-defined]
    return states


def objective(family: str, states: list[torch.Tensor]) -> torch.Tensor:
    """What the attacker minimises, per position: output small against the input, or against the inside."""
    energy = [s.pow(2).sum(-1) for s in states]
    inside = torch.stack(energy).amax(0)
    if family == "cancel":  # x ≈ -f(x): the output, the old denominator, cancels
        return (energy[-1] / energy[0]).mean()
    if family == "cancel-inner":  # the output small against every state the verifier measures
        return (energy[-1] / inside).mean()
    return ((energy[0] + energy[-1]) / inside).mean()  # bulge: large inside, small at both ends


def crafted(family: str, shape: tuple[int, int, int], scale: float, knob: int, seed: int, span: Span) -> torch.Tensor:
    """A client's crafted hidden states; ``knob`` is the attack's optimisation steps, or the sparsity."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(shape, generator=generator)
    if family == "sparse":  # ``knob % hidden`` + 1 non-zero entries per position, one-hot at 1
        keep = torch.rand(shape, generator=generator).argsort(-1) < knob % shape[-1] + 1
        hidden = torch.where(keep, hidden.sign(), torch.zeros(()))
    elif family == "repeated":  # one state at every position and in every sequence: tied attention keys
        hidden = hidden[:1, :1].expand(shape).clone()
    elif family == "non-finite":
        spots = torch.rand(shape, generator=generator) < 0.05
        hidden = torch.where(spots, torch.tensor([math.nan, math.inf, -math.inf])[knob % 3], hidden)
    hidden = hidden * scale
    if family in ATTACKS and knob:
        variable = hidden.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([variable], lr=0.05 * scale)
        for _ in range(knob):
            with torch.enable_grad():
                loss = objective(family, residual_states(span, variable))
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        hidden = variable.detach()
    return hidden


@functools.cache
def crafted_once(family: str, knob: int, span_range: tuple[int, int]) -> torch.Tensor:
    """Two sequences of ten positions, crafted once for every behaviour tried on them."""
    span = span_of(*span_range)
    return crafted(family, (2, 10, span.hidden_size), 1.0, knob, 5, span)


def session(hidden: torch.Tensor, prompt: int) -> list[torch.Tensor]:
    """The steps a client sends: a prompt prefill, then one token at a time."""
    return [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, hidden.shape[1])]


def serve(span: Span, inputs: list[torch.Tensor], behavior: str = "honest") -> list[torch.Tensor]:
    """As a block server computes: one KV cache for the session, one forward per step."""
    runtime = BehaviorRuntime(parse_behavior(behavior), seed=3)
    state = CacheState()
    skip = runtime.skipped_blocks(span.start, span.end)
    return [runtime.finish_step(span.forward(x, state, skip=skip)) for x in inputs]


# The lowest per-step tolerance any float32 document may hold (``FLOORS``): an honest server that passes it passes
# every shipped threshold, which calibration's crafted-input search may have raised further.
FLOOR = Tolerance("float32", *FLOORS["float32"], "floor")


def judge(
    span: Span, inputs: list[torch.Tensor], outputs: list[torch.Tensor], tolerance: Tolerance = FLOOR
) -> list[StepComparison]:
    """The verifier's comparison: one prefill replay, errors against the inner scales it measured."""
    replayed = replay_with_scales(span, inputs)
    return [
        compare_step(step, claimed, replay.output, tolerance, inner=replay.inner)
        for step, (claimed, replay) in enumerate(zip(outputs, replayed, strict=True))
    ]


def judge_by_output_alone(span: Span, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> list[StepComparison]:
    """The comparison before inner scales: errors against the claimed output's own magnitudes."""
    replayed = replay_session(span, inputs)
    return [compare_step(i, c, r, FLOOR) for i, (c, r) in enumerate(zip(outputs, replayed, strict=True))]


@pytest.mark.parametrize("span_range", SPANS)
@pytest.mark.slow  # heavy: in the full tier only
def test_cancelling_inputs_failed_an_honest_server_by_the_output_alone(span_range: tuple[int, int]) -> None:
    """The attack is real: judged against its own output, an honest server's steps fail; not any more."""
    span = span_of(*span_range)
    inputs = session(crafted("cancel", (2, 12, span.hidden_size), 1.0, 250, 1, span), 4)
    outputs = serve(span, inputs)
    assert not all(c.passed for c in judge_by_output_alone(span, inputs, outputs))
    assert all(c.passed and c.judged for c in judge(span, inputs, outputs))


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    family=st.sampled_from(FAMILIES),
    span_range=st.sampled_from(SPANS),
    batch=st.integers(1, 3),
    prompt=st.integers(1, 6),
    decode=st.integers(0, 5),
    log_scale=st.one_of(st.floats(-12, 37), st.sampled_from([-30.0, -6.0, 0.0, 19.0, 38.0])),
    knob=st.integers(0, 250),
    seed=st.integers(0, 2**16),
)
@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_server_passes_whatever_the_client_sends(
    family: str, span_range: tuple[int, int], batch: int, prompt: int, decode: int, log_scale: float, knob: int,
    seed: int,
) -> None:  # fmt: skip
    span = span_of(*span_range)
    scale = 1.0 if family in ATTACKS else 10.0**log_scale
    hidden = crafted(family, (batch, prompt + decode, span.hidden_size), scale, knob, seed, span)
    inputs = session(hidden, prompt)
    comparisons = judge(span, inputs, serve(span, inputs))
    failed = [c for c in comparisons if not c.passed]
    assert not failed, f"an honest server fails on {family} inputs: {failed}"
    if family != "non-finite" and torch.isfinite(hidden).all() and log_scale < 37:
        assert all(c.judged for c in comparisons), "finite inputs of moderate scale must get a verdict"


@pytest.mark.parametrize("behavior", ["noise:0.001", "skip-layers"])
@pytest.mark.parametrize(("family", "knob"), [("gaussian", 0), ("cancel", 250), ("cancel-inner", 250), ("bulge", 250)])
@pytest.mark.parametrize("span_range", SPANS)
@pytest.mark.slow  # heavy: in the full tier only
def test_a_cheater_still_fails_on_ordinary_and_crafted_inputs(
    span_range: tuple[int, int], family: str, knob: int, behavior: str
) -> None:
    span = span_of(*span_range)
    inputs = session(crafted_once(family, knob, span_range), 4)
    comparisons = judge(span, inputs, serve(span, inputs, behavior), float32(span))  # the shipped thresholds
    assert all(c.judged and not c.passed for c in comparisons), [c for c in comparisons if c.passed]


def test_non_finite_inputs_get_no_verdict_but_a_non_finite_answer_to_finite_ones_fails() -> None:
    span = span_of(4, 8)
    hidden = torch.randn(1, 6, span.hidden_size, generator=torch.Generator().manual_seed(2))
    poisoned = hidden.clone()
    poisoned[0, 4, 7] = math.nan
    inputs = session(poisoned, 3)
    outputs = serve(span, inputs)
    assert not torch.isfinite(outputs[-1]).all()  # the server computes and signs what it was sent
    assert all(c.passed and not c.judged for c in judge(span, inputs, outputs))
    inputs = session(hidden, 3)
    outputs = serve(span, inputs)
    outputs[1] = torch.full_like(outputs[1], math.nan)
    verdicts = judge(span, inputs, outputs)
    assert [c.passed for c in verdicts] == [True, False, True, True] and all(c.judged for c in verdicts)


def test_observing_the_residual_stream_changes_nothing_and_leaves_no_hook() -> None:
    span = span_of(0, 4)
    hidden = torch.randn(2, 7, span.hidden_size, generator=torch.Generator().manual_seed(4))
    plain = span.forward(hidden)
    seen: list[torch.Tensor] = []
    with span.observing_residual_stream(seen.append):
        observed = span.forward(hidden)
    assert torch.equal(plain, observed)
    assert len(seen) == 3 * len(span.layers) and torch.equal(seen[-1], observed)
    assert all(
        not (m._forward_hooks or m._forward_pre_hooks) for layer in span.layers for m in layer.modules()
    )  # the server's forward runs no hook after the verifier looked


# Half precision: the client's inputs move honest rounding errors far more than in float32, so calibration
# searches crafted inputs per span and raises the thresholds above them (``verifier.crafted``).
HALF = ("bfloat16", "float16")


@functools.cache
def half_span(start: int, end: int, dtype: str) -> Span:
    return Span.load(tiny(), start, end, TORCH_DTYPES[dtype])


def half_tolerance(start: int, end: int, dtype: str) -> SpanTolerance:
    return load_tolerances().span("tiny", start, end, dtype)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(HALF),
    family=st.sampled_from(FAMILIES_CRAFTED),
    span_range=st.sampled_from(SPANS),
    session=st.builds(Session, st.sampled_from((1, 2, 4, 8)), st.integers(1, 24), st.integers(0, 24)),
    seed=st.integers(0, 2**16),
)
@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_half_precision_server_passes_whatever_the_client_sends(
    dtype: str, family: str, span_range: tuple[int, int], session: Session, seed: int
) -> None:
    """Every family the calibration searched (and the search itself, briefly), on any span and session shape:
    an honest server's session passes the shipped thresholds."""
    span, rng = half_span(*span_range, dtype), random.Random(seed)
    tolerance = half_tolerance(*span_range, dtype)
    if family == "ascent":
        hidden = ascend(span, session, tolerance.suspicion, tolerance.gain_reference, rng, 15)
    else:
        hidden = crafted_inputs(family, session, span.hidden_size, rng, span_of(*span_range))
    statistics = honest_statistics(span, session, hidden)
    judged_by = tolerance.for_session(statistics)
    assert not judged_by.exceeded(statistics), (
        f"an honest {dtype} server fails on {family} inputs (gain {statistics.gain:.3g}, reference "
        f"{tolerance.gain_reference}): {judged_by.severity(statistics)}"
    )


@pytest.mark.parametrize("dtype", HALF)
def test_the_shipped_half_precision_thresholds_stand_above_what_crafted_inputs_reached(dtype: str) -> None:
    """The shipped documents record the search: crafted inputs went past the thresholds fitted on ordinary
    sessions (the attack is real), and every span's thresholds stand at the margin above the worst found."""
    document = json.loads(resources.files("swarmtrust.verifier").joinpath("tolerances.json").read_text())
    (doc,) = [d for d in document if d["dtype"] == dtype]
    assert max(doc["crafted"]["worst_severity_over_fitted_by_family"].values()) > 1.0
    assert doc["crafted"]["margin"] == MARGIN and set(doc["crafted"]["spans"]) == set(doc["spans"])
    assert doc["crafted"]["conditioning"] == "gain"
    assert max(doc["crafted"]["ratios"].values()) > 1.0 / MARGIN
    for key, found in doc["crafted"]["spans"].items():
        start, end = (int(part) for part in key.split(":"))
        tolerance = half_tolerance(start, end, dtype)
        thresholds = tolerance.thresholds
        assert tolerance.gain_reference == found["gain_reference"] >= 1.0
        for name, largest in found["largest"].items():  # each over its session's gain factor
            assert thresholds.value(name) >= MARGIN * largest


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("family", ["gaussian", "sparse", "cancel"])
@pytest.mark.slow  # heavy: in the full tier only
def test_a_skipping_server_still_fails_on_crafted_half_precision_inputs(dtype: str, family: str) -> None:
    span, rng = half_span(4, 8, dtype), random.Random(7)
    session = Session(2, 10, 8)
    hidden = crafted_inputs(family, session, span.hidden_size, rng, span_of(4, 8))
    inputs = [x.to(span.dtype) for x in session.steps(hidden)]
    outputs = serve(span, inputs, "skip-layers")
    replay = replay_with_scales(span, inputs)
    statistics = session_statistics(
        [step_error(i, claimed, r.output, r.inner) for i, (claimed, r) in enumerate(zip(outputs, replay, strict=True))]
    )
    assert half_tolerance(4, 8, dtype).for_session(statistics).exceeded(statistics)


def test_thresholds_are_raised_by_the_worst_ratio_over_every_span_and_the_prompt_stays_looser() -> None:
    fitted = {(0, 1): SessionThresholds(0.01, 0.002, 0.01, 0.002), (0, 2): SessionThresholds(0.02, 0.004, 0.02, 0.004)}
    found = {
        (0, 1): {"prompt_max_rel": 0.0, "prompt_mean_rel": 0.001, "decode_max_rel": 0.02, "pooled_rel": 0.001},
        (0, 2): {"prompt_max_rel": 0.0, "prompt_mean_rel": 0.001, "decode_max_rel": 0.01, "pooled_rel": 0.012},
    }
    ratios = crafted_ratios(found, fitted)
    assert ratios == pytest.approx({"prompt_max_rel": 0.0, "prompt_mean_rel": 0.5, "decode_max_rel": 2.0,
                                    "pooled_rel": 3.0})  # fmt: skip
    raised = raise_by(fitted[(0, 1)], ratios)  # a span is raised by what another span's search found
    assert raised == pytest.approx(SessionThresholds(0.04, 0.012, 0.04, 0.012))
    assert raise_by(fitted[(0, 1)], dict.fromkeys(ratios, 0.1)) == fitted[(0, 1)]  # never lowered


def test_a_crafted_search_tries_every_family_and_keeps_the_largest_values() -> None:
    span = half_span(3, 4, "bfloat16")
    tolerance = half_tolerance(3, 4, "bfloat16")
    worst = worst_statistics(span, span_of(3, 4), tolerance.suspicion, tolerance.gain_reference, seconds=0.0,
                             rng=random.Random(1))  # fmt: skip
    assert worst.sessions == len(FAMILIES_CRAFTED)
    assert set(worst.by_family) == set(FAMILIES_CRAFTED)
    assert all(value >= 0 for value in worst.largest.values()) and max(worst.largest.values()) > 0


def test_the_stream_gain_is_the_product_of_each_states_change_over_its_magnitude() -> None:
    watch = StreamWatch(1, 2)
    base = torch.tensor([[[1.0, -1.0], [2.0, 2.0]]])  # two positions, mean |value| 1 and 2
    watch.observe(base)
    watch.observe(base * torch.tensor([[[3.0], [1.0]]]))  # position 0 changes by 2, position 1 not at all
    watch.observe(base * torch.tensor([[[3.0], [1.0]]]))  # an unchanged state (a block's output, the next input)
    assert torch.allclose(watch.gain, torch.tensor([[3.0, 1.0]]))
    watch.observe(torch.zeros(1, 2, 2))  # cancelling to 0: each change over the state before it
    assert torch.allclose(watch.gain, torch.tensor([[6.0, 2.0]]))
    watch.observe(torch.ones(1, 2, 2))  # growing out of 0: capped, never infinite
    assert torch.equal(watch.gain, torch.full((1, 2), GAIN_CAP))


def test_inputs_small_against_what_the_blocks_add_show_a_large_gain() -> None:
    """Each half-block normalises its input: fed a state a thousand times smaller, it adds as much as before,
    and a rounding difference in the input comes out that much larger."""
    span, rng = half_span(4, 6, "bfloat16"), random.Random(5)
    session = Session(2, 8, 4)
    hidden = crafted_inputs("gaussian", session, span.hidden_size, rng, span_of(4, 6))
    ordinary = honest_statistics(span, session, hidden)
    small = honest_statistics(span, session, hidden * 1e-3)
    assert 1.0 < ordinary.gain < 100.0 and small.gain > 100 * ordinary.gain


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    scale=st.floats(1e-6, 10.0),
    positions=st.lists(st.integers(0, 9), min_size=1, max_size=10),
    seed=st.integers(0, 2**16),
)
def test_a_server_cannot_move_the_gain_its_session_is_judged_by(scale: float, positions: list[int], seed: int) -> None:
    """The gain comes from the verifier's replay of the submitted inputs alone: whatever a server answers
    (noise of any size, at any positions), its session is judged at the same gain, and loosening never
    tightens (so no answer of an honest server fails for it)."""
    span = half_span(2, 3, "bfloat16")
    tolerance = half_tolerance(2, 3, "bfloat16")
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(1, 6, span.hidden_size, generator=generator).to(span.dtype)] + [
        torch.randn(1, 1, span.hidden_size, generator=generator).to(span.dtype) for _ in range(4)
    ]
    replay = replay_with_scales(span, inputs)
    honest = [r.output for r in replay]
    answered = [o.clone() for o in honest]
    for position in positions:
        step = answered[position % len(answered)]
        step += (scale * torch.randn(step.shape, generator=generator)).to(step.dtype)
    judged = [
        session_statistics(
            [step_error(i, c, r.output, r.inner) for i, (c, r) in enumerate(zip(out, replay, strict=True))]
        )
        for out in (honest, answered)
    ]
    assert judged[0].gain == judged[1].gain >= 1.0
    for statistics in judged:
        loosened = tolerance.for_session(statistics)
        assert all(loosened.value(n) >= tolerance.thresholds.value(n) for n in STATISTICS)
