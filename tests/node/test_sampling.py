"""Choosing tokens: greedy is the argmax; a seed fixes the draw; top-k and top-p never let a token outside
their set through, whatever the logits (hypothesis); settings out of range are refused; stop rules."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.sampling import Sampling, SamplingError, StopRule, TokenChooser, keep_likely

finite = st.floats(min_value=-30, max_value=30, allow_nan=False, width=32)
logit_lists = st.lists(finite, min_size=2, max_size=40)


@given(logit_lists)
def test_greedy_is_the_argmax(values: list[float]) -> None:
    logits = torch.tensor(values)
    assert TokenChooser()(logits) == int(logits.argmax())


@given(logit_lists, st.integers(1, 10), st.floats(0.01, 1.0), st.floats(0.1, 3.0), st.integers(0, 2**32))
@settings(max_examples=200, deadline=None)
def test_a_sampled_token_is_within_top_k_and_the_nucleus(
    values: list[float], top_k: int, top_p: float, temperature: float, seed: int
) -> None:
    logits = torch.tensor(values)
    sampling = Sampling(temperature, top_k, top_p, seed)
    kept = keep_likely(logits / temperature, sampling)
    allowed = {i for i in range(len(values)) if kept[i] > -math.inf}
    assert max(values) in {values[i] for i in allowed}, "a most likely token is always kept (one of a tie)"
    assert len(allowed) <= top_k or len({float(v) for v in values}) < len(values), "ties may widen the top k"
    if top_p < 1:  # the nucleus: tokens whose more likely ones already hold top_p of the mass are out
        probabilities = (torch.tensor(sorted(values, reverse=True)) / temperature).softmax(-1)
        needed = int((probabilities.cumsum(-1) - probabilities < top_p).sum())
        assert len(allowed) <= max(needed, 1) or len(set(values)) < len(values)
    chooser = TokenChooser(sampling)
    assert all(chooser(logits) in allowed for _ in range(5))


@given(logit_lists, st.integers(0, 2**32))
def test_one_seed_gives_one_sequence_of_draws(values: list[float], seed: int) -> None:
    logits = torch.tensor(values)
    sampling = Sampling(temperature=1.0, seed=seed)
    first, second = TokenChooser(sampling), TokenChooser(sampling)
    assert [first(logits) for _ in range(8)] == [second(logits) for _ in range(8)]


def test_temperature_spreads_the_draws_and_a_tiny_top_p_is_greedy() -> None:
    logits = torch.tensor([2.0, 1.9, 1.8, -5.0])
    hot = TokenChooser(Sampling(temperature=1.0, seed=3))
    assert {hot(logits) for _ in range(200)} >= {0, 1, 2}, "close logits: each is drawn sometimes"
    narrow = TokenChooser(Sampling(temperature=1.0, top_p=1e-6, seed=3))
    assert {narrow(logits) for _ in range(50)} == {0}


@pytest.mark.parametrize(
    ("settings_", "named"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": -1}, "seed"),
    ],
)
def test_settings_out_of_range_are_refused_by_name(settings_: dict[str, float], named: str) -> None:
    with pytest.raises(SamplingError, match=named):
        Sampling(**settings_)  # type: ignore[arg-type]


def test_stop_rules() -> None:
    decode = lambda tokens: "".join(chr(96 + t) for t in tokens)  # noqa: E731 - 1 -> "a", 2 -> "b" ...
    assert StopRule(frozenset({2})).reason([1, 2], decode) == "eos"
    assert StopRule(frozenset({2})).reason([2, 1], decode) is None, "only the last token ends the sequence"
    assert StopRule(strings=("bc",)).reason([1, 2, 3], decode) == "stop string"
    assert StopRule(strings=("bc",)).reason([1, 2], decode) is None
    with pytest.raises(SamplingError, match="tokenizer"):
        StopRule(strings=("x",)).reason([1], None)


def test_ties_keep_the_lower_index_first() -> None:
    """All logits equal: the nucleus of the smallest top_p keeps token 0, on every run (a stable order)."""
    flat = torch.zeros(17)
    assert torch.isfinite(
        keep_likely(flat, Sampling(temperature=1.0, top_p=0.01, seed=1))
    ).nonzero().flatten().tolist() == [0]
