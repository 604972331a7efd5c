"""Session statistics, tail-fitted thresholds, composition and tolerance documents (pure; no model)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.verifier.statistics import (
    STATISTICS,
    SessionStatistics,
    SessionThresholds,
    compose,
    gain_factor,
    session_statistics,
    step_error,
)
from swarmtrust.verifier.tail_fit import false_positive_bound, fit_tail
from swarmtrust.verifier.tolerance import InnerScale, load_tolerances
from swarmtrust.verifier.tolerance_document import ToleranceDocument, ToleranceError, Tolerances, documents_in

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False, width=32)


@st.composite
def sessions(draw: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A session's (claimed, replayed) step outputs: a prompt of several tokens, then one token a step."""
    batch, hidden, prompt = draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 4))
    decode = draw(st.integers(0, 4))
    steps = []
    for tokens in [prompt] + [1] * decode:
        shape = (batch, tokens, hidden)
        values = draw(st.lists(finite, min_size=2 * math.prod(shape), max_size=2 * math.prod(shape)))
        both = torch.tensor(values).reshape(2, *shape)
        steps.append((both[0], both[1]))
    return steps


def statistics_of(steps: list[tuple[torch.Tensor, torch.Tensor]], inner: InnerScale | None = None) -> Any:
    return session_statistics([step_error(i, claimed, replayed, inner) for i, (claimed, replayed) in enumerate(steps)])


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_identical_outputs_have_zero_error(steps: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    stats = statistics_of([(claimed, claimed.clone()) for claimed, _ in steps])
    assert all(stats.value(name) == 0.0 for name in STATISTICS)
    assert stats.decode_steps == len(steps) - 1 and stats.judged


@settings(max_examples=150, deadline=None)
@given(sessions(), st.integers(-20, 20))
def test_statistics_do_not_depend_on_the_activations_scale(
    steps: list[tuple[torch.Tensor, torch.Tensor]], exponent: int
) -> None:
    factor = 2.0**exponent  # exact in float32: no rounding changes the comparison
    inner = InnerScale(3.0, 0.5, True)
    scaled_inner = InnerScale(3.0 * factor, 0.5 * factor, True)
    plain = statistics_of(steps, inner)
    scaled = statistics_of([(c * factor, r * factor) for c, r in steps], scaled_inner)
    for name in STATISTICS:
        assert scaled.value(name) == pytest.approx(plain.value(name), rel=1e-5, abs=1e-30)


@settings(max_examples=150, deadline=None)
@given(sessions(), st.floats(1e-30, 1e-3))
def test_crafted_tiny_outputs_cannot_shrink_the_scale_below_the_inner_one(
    steps: list[tuple[torch.Tensor, torch.Tensor]], shrink: float
) -> None:
    """However small a client makes the claimed outputs, each error is measured against the inner scale."""
    inner = InnerScale(10.0, 2.0, True)
    tiny = [(c * shrink, c * shrink + (r - c)) for c, r in steps]
    stats = statistics_of(tiny, inner)
    prompt_difference = (tiny[0][1].float() - tiny[0][0].float()).abs()
    assert stats.prompt_max_rel <= float(prompt_difference.max()) / inner.max_abs * (1 + 1e-5)
    assert stats.prompt_mean_rel <= float(prompt_difference.mean()) / inner.mean_abs * (1 + 1e-5)
    decode_error = sum(float((r.float() - c.float()).abs().double().sum()) for c, r in tiny[1:])
    decode_values = sum(c.numel() for c, _ in tiny[1:])
    if decode_values:
        assert stats.pooled_rel <= decode_error / (decode_values * inner.mean_abs) * (1 + 1e-5) + 1e-30


def test_pooled_error_sums_the_session_not_its_steps() -> None:
    """One step at 4% error among three exact ones pools to 1%: an average, where max_rel keeps the worst."""
    ones = torch.ones(1, 1, 4)
    steps = [(ones, ones.clone()), (ones, ones * 1.04), (ones, ones.clone()), (ones, ones.clone()), (ones, ones)]
    stats = statistics_of(steps)
    assert stats.pooled_rel == pytest.approx(0.01, rel=1e-5)
    assert stats.decode_max_rel == pytest.approx(0.04, rel=1e-5) and stats.worst_decode_step == 1


def test_non_finite_outputs_exceed_every_threshold_and_unjudged_sessions_pass_none() -> None:
    ones = torch.ones(1, 2, 4)
    broken = statistics_of([(ones, ones.clone()), (ones[:, :1], ones[:, :1] * math.nan)])
    thresholds = SessionThresholds(1.0, 1.0, 1.0, 1.0)
    assert set(thresholds.exceeded(broken)) == {"decode_max_rel", "pooled_rel"}
    unjudged = statistics_of([(ones, ones * 9)], InnerScale(math.inf, math.inf, False))
    assert not unjudged.judged and thresholds.exceeded(unjudged) == ()


def test_a_session_without_its_prompt_step_pools_every_compared_step() -> None:
    ones = torch.ones(1, 1, 4)
    stats = session_statistics([step_error(3, ones, ones * 1.5, None), step_error(5, ones, ones, None)])
    assert stats.prompt_max_rel == stats.prompt_mean_rel == 0.0
    assert stats.decode_steps == 2 and stats.worst_decode_step == 3
    assert stats.pooled_rel == pytest.approx(0.25)  # 4 x 0.5 over 8 x 1
    with pytest.raises(ValueError, match="at least one"):
        session_statistics([])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_thresholds_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        SessionThresholds(1.0, bad, 1.0, 1.0)


def test_composition_sums_the_blocks_times_each_factor() -> None:
    blocks = [SessionThresholds(1.0, 2.0, 3.0, 4.0), SessionThresholds(0.5, 0.5, 0.5, 0.5)]
    assert compose(blocks[:1]) == blocks[0]
    assert compose(blocks) == SessionThresholds(1.5, 2.5, 3.5, 4.5)
    assert compose(blocks, {"pooled_rel": 2.0}) == SessionThresholds(1.5, 2.5, 3.5, 9.0)
    # a factor below 1 tightens long spans, but never below the loosest block's own thresholds
    assert compose(blocks, dict.fromkeys(STATISTICS, 0.1)) == SessionThresholds(1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="at least one block"):
        compose([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=400), st.floats(1e-12, 0.1))
def test_a_fitted_threshold_is_deterministic_and_above_every_fitting_value(values: list[float], rate: float) -> None:
    fit = fit_tail(values, rate)
    assert fit.threshold >= max(values) and math.isfinite(fit.threshold)
    assert repr(fit_tail(list(reversed(values)), rate)) == repr(fit)  # the same numbers, NaN included


def test_a_fitted_tail_extrapolates_beyond_the_sample() -> None:
    """Exponential honest values: the 1e-9 quantile is far beyond the largest of 2,000, near -ln(1e-9)."""
    generator = torch.Generator().manual_seed(0)
    values = torch.empty(2000).exponential_(generator=generator).tolist()
    fit = fit_tail(values, 1e-9)
    assert fit.method == "genpareto" and max(values) < fit.threshold
    assert 0.5 * -math.log(1e-9) < fit.threshold < 3 * -math.log(1e-9)


@pytest.mark.parametrize(("values", "rate"), [([], 1e-9), ([1.0, math.inf], 1e-9), ([-1.0], 1e-9), ([1.0], 0.0)])
def test_a_tail_fit_refuses_bad_input(values: list[float], rate: float) -> None:
    with pytest.raises(ValueError):
        fit_tail(values, rate)


def test_the_false_positive_bound_is_the_exact_one_sided_bound() -> None:
    assert false_positive_bound(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000))
    assert false_positive_bound(0, 1000) == pytest.approx(0.002991, rel=1e-3)
    assert false_positive_bound(1, 1000) > false_positive_bound(0, 1000)
    assert false_positive_bound(0, 0) == 1.0


def document(**overrides: Any) -> dict[str, Any]:
    block = dict.fromkeys(STATISTICS, 0.01)
    fields = {
        "format": 2,
        "model": "tiny",
        "dtype": "bfloat16",
        "hardware": "cpu x86_64 torch 2.13.0",
        "blocks": [block, block],
        "composition": {"factors": {"pooled_rel": 0.5}},
        "spans": {"0:2": dict.fromkeys(STATISTICS, 0.05)},
        "crafted": {"margin": 2.0, "spans": {"0:2": {"fitted": dict.fromkeys(STATISTICS, 0.02)}}},
    }
    return fields | overrides


def test_a_document_gives_span_entries_first_then_composed_thresholds() -> None:
    tolerances = Tolerances(documents_in(document(), "test"))
    assert tolerances.span("tiny", 0, 2, "bfloat16").thresholds == SessionThresholds(0.05, 0.05, 0.05, 0.05)
    assert tolerances.span("tiny", 1, 2, "bfloat16").thresholds == SessionThresholds(0.01, 0.01, 0.01, 0.01)
    one = Tolerances(documents_in(document(spans={}), "test")).span("tiny", 0, 2, "bfloat16")
    assert one.thresholds == SessionThresholds(0.02, 0.02, 0.02, 0.01) and "composed" in one.source
    assert one.decode.max_rel == 0.02 and one.decode.mean_rel == 0.01  # the verdict's (decode max, pooled)


def test_ordinary_thresholds_raise_suspicion_and_the_raised_ones_decide() -> None:
    """A document's thresholds are raised above what crafted inputs reach; the fitted (ordinary) ones are kept to
    tell unusual sessions from ordinary ones (escalation)."""
    span = Tolerances(documents_in(document(), "test")).span("tiny", 0, 2, "bfloat16")
    assert span.thresholds == SessionThresholds(0.05, 0.05, 0.05, 0.05)
    assert span.suspicion == SessionThresholds(0.02, 0.02, 0.02, 0.02)
    composed = Tolerances(documents_in(document(), "test")).span("tiny", 1, 2, "bfloat16")
    assert composed.suspicion == composed.thresholds  # no ordinary entry: the thresholds themselves
    float32 = Tolerances(documents_in(document(dtype="float32", crafted=None), "test")).span("tiny", 0, 2, "float32")
    assert float32.suspicion == float32.thresholds  # float32 keeps its crafted-input floor (FLOORS) instead


def test_a_session_beyond_its_spans_ordinary_gain_is_judged_more_loosely_and_no_other() -> None:
    crafted = {"margin": 2.0, "conditioning": "gain",
               "spans": {"0:2": {"fitted": dict.fromkeys(STATISTICS, 0.02), "gain_reference": 4.0}}}  # fmt: skip
    tolerances = Tolerances(documents_in(document(crafted=crafted), "test"))
    span = tolerances.span("tiny", 0, 2, "bfloat16")
    assert span.gain_reference == 4.0
    ordinary = SessionStatistics(0.1, 0.1, 0.1, 0.1, 3, 1, gain=3.9)
    crafted_session = replace(ordinary, gain=12.0)
    assert span.for_session(ordinary) == span.thresholds and span.suspicion_for(ordinary) == span.suspicion
    loosened, suspicion = span.for_session(crafted_session), span.suspicion_for(crafted_session)
    assert [loosened.value(n) for n in STATISTICS] == pytest.approx([0.05 * 3] * 4)  # gain 12 over 4
    assert [suspicion.value(n) for n in STATISTICS] == pytest.approx([0.02 * 3] * 4)
    composed = tolerances.span("tiny", 1, 2, "bfloat16")  # no span entry: no reference, no loosening
    assert composed.gain_reference is None and composed.for_session(crafted_session) == composed.thresholds


@given(gain=st.floats(0.0, 1e300), reference=st.one_of(st.none(), st.floats(1.0, 1e6)))
def test_the_gain_factor_only_loosens_and_stays_finite(gain: float, reference: float | None) -> None:
    factor = gain_factor(gain, reference)
    assert 1.0 <= factor < math.inf
    if reference is None or gain <= reference:
        assert factor == 1.0
    thresholds = SessionThresholds(0.01, 0.01, 0.01, 0.01).times(factor)
    assert thresholds.pooled_rel >= 0.01


@pytest.mark.parametrize("reference", [None, "4", 0.5, float("nan")])
def test_a_gain_conditioned_document_without_a_valid_reference_is_refused(reference: Any) -> None:
    entry: dict[str, Any] = {"fitted": dict.fromkeys(STATISTICS, 0.02)}
    if reference is not None:
        entry["gain_reference"] = reference
    crafted = {"margin": 2.0, "conditioning": "gain", "spans": {"0:2": entry}}
    with pytest.raises(ToleranceError, match=r"span '0:2' has no gain reference.*recalibrate"):
        documents_in(document(crafted=crafted), "test")


def test_missing_thresholds_say_how_to_calibrate_them() -> None:
    tolerances = Tolerances(documents_in(document(), "test"))
    with pytest.raises(ToleranceError, match=r"no tolerance is calibrated for tiny in float16.*verifier calibrate"):
        tolerances.span("tiny", 0, 2, "float16")
    with pytest.raises(ToleranceError, match="no tolerance is calibrated for other in bfloat16"):
        tolerances.span("other", 0, 2, "bfloat16")
    with pytest.raises(ToleranceError, match="outside the calibrated 0:2"):
        tolerances.span("tiny", 1, 3, "bfloat16")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "tiny", "thresholds": {"float32": {"max_rel": 1, "mean_rel": 1}}}, "no tolerance document"),
        (document(format=1), "not a tolerance document of format 2"),
        (document(dtype="int4"), "needs a model, a dtype"),
        (document(blocks=[]), "per-block thresholds"),
        (document(blocks=[{"prompt_max_rel": 1.0}]), "bad thresholds"),
        (document(blocks=[dict.fromkeys(STATISTICS, -1.0)]), "bad thresholds"),
        (document(composition={"factors": {"pooled_rel": 0}}), "factors must be positive"),
        (document(spans={"0-2": dict.fromkeys(STATISTICS, 1.0)}), "span entry"),
        (document(crafted=None), "calibrated without the crafted-input search"),
        (document(crafted={"spans": {}}), "calibrated without the crafted-input search"),
        (document(crafted={"margin": 0.5, "spans": {}}), "calibrated without the crafted-input search"),
        (document(crafted={"margin": 2, "spans": {"0:2": {"largest": {}}}}), "span entry '0:2'"),
        ([document(), document()], "two tolerance documents for tiny bfloat16"),
    ],
)
def test_bad_tolerance_files_are_refused_with_what_is_wrong(data: Any, message: str, tmp_path: Path) -> None:
    path = tmp_path / "tolerances.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ToleranceError, match=message):
        load_tolerances(str(path))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["format", "model", "dtype", "hardware", "blocks", "composition", "spans", "crafted"]),
    value=json_values,
)
def test_any_value_in_any_field_is_read_or_refused_with_a_tolerance_error(field: str, value: Any) -> None:
    """Whatever a tolerance file holds, reading it gives documents or a ToleranceError, never another exception."""
    try:
        documents = documents_in(document(**{field: value}), "test")
    except ToleranceError:
        return
    assert all(isinstance(d, ToleranceDocument) and len(d.blocks) >= 1 for d in documents)


def test_a_file_may_hold_one_document_a_list_or_documents_by_dtype(tmp_path: Path) -> None:
    other = document(dtype="float16")
    for data in (document(), [document(), other], {"bfloat16": document(), "float16": other}):
        path = tmp_path / "tolerances.json"
        path.write_text(json.dumps(data))
        assert load_tolerances(str(path)).dtypes("tiny") <= {"bfloat16", "float16"}
    assert load_tolerances(str(path)).dtypes("tiny") == {"bfloat16", "float16"}
    with pytest.raises(ToleranceError, match="cannot read"):
        load_tolerances(str(tmp_path / "missing.json"))


def test_the_shipped_documents_cover_tiny_in_every_dtype_with_their_held_out_figures() -> None:
    tolerances = load_tolerances()
    assert tolerances.dtypes("tiny") == {"float32", "bfloat16", "float16"}
    for doc in tolerances:
        assert isinstance(doc, ToleranceDocument) and doc.hardware.startswith("cpu")
        assert len(doc.blocks) == 8 and len(doc.spans) == 36
    f32 = tolerances.span("tiny", 0, 8, "float32").thresholds
    bf16 = tolerances.span("tiny", 0, 8, "bfloat16").thresholds
    assert all(f32.value(name) < bf16.value(name) for name in STATISTICS)
