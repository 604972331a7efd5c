"""Several sessions' one-token steps as one forward pass (``Span.forward_sessions``): each session gets what a
lone step gives it, up to the low bits a batch's shape changes, and nothing another session sends reaches it.

The property a server's clients rely on is the second: a client that shares a batch with others (whatever it
sends: huge values, infinities, NaNs) cannot change another session's output by a single bit, so it can neither
frame an honest server through someone else's session nor learn what that session holds."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.model.span import CacheState, Span, SpanError
from tests.node.swarm_helpers import tiny

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# a batched step against a lone one, relative to the output's largest value: a few units in the last place
CLOSE = {"float32": 1e-5, "bfloat16": 2e-2, "float16": 4e-3}
HOSTILE = {"huge": 1e30, "infinite": float("inf"), "nan": float("nan"), "zero": 0.0}


@functools.cache
def span(dtype: str) -> Span:
    return Span.load(tiny(), 0, 4, DTYPES[dtype])


def prefilled(layer: Span, lengths: list[int], batches: list[int], seed: int) -> list[CacheState]:
    """A cache per session, each after a prompt of its own length."""
    generator = torch.Generator().manual_seed(seed)
    states = []
    for length, batch in zip(lengths, batches, strict=True):
        state = CacheState()
        layer.forward(torch.randn(batch, length, layer.hidden_size, generator=generator), state)
        states.append(state)
    return states


sessions = st.lists(st.tuples(st.integers(1, 12), st.integers(1, 3)), min_size=2, max_size=5)


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(sorted(DTYPES)), shapes=sessions, seed=st.integers(0, 2**16), steps=st.integers(1, 3))
def test_each_session_gets_what_a_lone_step_gives_it(
    dtype: str, shapes: list[tuple[int, int]], seed: int, steps: int
) -> None:
    layer = span(dtype)
    lengths, batches = [length for length, _ in shapes], [batch for _, batch in shapes]
    alone, together = prefilled(layer, lengths, batches, seed), prefilled(layer, lengths, batches, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        inputs = [torch.randn(batch, 1, layer.hidden_size, generator=generator) for batch in batches]
        lone = [layer.forward(x, state) for x, state in zip(inputs, alone, strict=True)]
        batched = layer.forward_sessions(inputs, together, start=0, end=4)
        for want, got in zip(lone, batched, strict=True):
            assert got.shape == want.shape and got.dtype == want.dtype
            error = float((got.float() - want.float()).abs().max() / want.float().abs().max())
            assert error < CLOSE[dtype]
    for a, b in zip(alone, together, strict=True):
        assert a.length == b.length == a.cache.get_seq_length() == b.cache.get_seq_length()
    # the caches the batch left go on as the lone ones do: a later lone step of each session agrees
    last = [torch.randn(batch, 1, layer.hidden_size, generator=generator) for batch in batches]
    for x, a, b in zip(last, alone, together, strict=True):
        want, got = layer.forward(x, a), layer.forward(x, b)
        assert float((got.float() - want.float()).abs().max() / want.float().abs().max()) < CLOSE[dtype]


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from(sorted(DTYPES)),
    hostile=st.sampled_from(sorted(HOSTILE)),
    position=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_nothing_a_session_sends_changes_another_sessions_bits(
    dtype: str, hostile: str, position: int, seed: int
) -> None:
    """Two batches of the same shape, one with an ordinary co-session and one with a hostile one (its cache
    and its step filled with ``hostile``): the other sessions' outputs are identical bit for bit."""
    layer = span(dtype)
    lengths, batches = [5, 9, 3], [1, 2, 1]
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(batch, 1, layer.hidden_size, generator=generator) for batch in batches]
    ordinary = layer.forward_sessions(inputs, prefilled(layer, lengths, batches, seed), start=0, end=4)
    states = prefilled(layer, lengths, batches, seed)
    attack = torch.full((batches[position], lengths[position], layer.hidden_size), HOSTILE[hostile])
    states[position] = CacheState()
    layer.forward(attack, states[position])
    sent = list(inputs)
    sent[position] = torch.full_like(inputs[position], HOSTILE[hostile])
    attacked = layer.forward_sessions(sent, states, start=0, end=4)
    for index, (want, got) in enumerate(zip(ordinary, attacked, strict=True)):
        if index != position:
            assert torch.equal(got, want), f"session {index} changed when session {position} sent {hostile}"


def test_a_sub_span_batches_its_own_blocks_only() -> None:
    layer = span("float32")
    states = prefilled(layer, [4, 6], [1, 1], 7)
    lone = prefilled(layer, [4, 6], [1, 1], 7)
    inputs = [torch.randn(1, 1, layer.hidden_size) for _ in states]
    batched = layer.forward_sessions(inputs, states, start=1, end=3)
    for x, state, got in zip(inputs, lone, batched, strict=True):
        want = layer.forward(x, state, start=1, end=3)
        assert float((got - want).abs().max() / want.abs().max()) < CLOSE["float32"]


def test_steps_that_cannot_share_a_pass_are_refused() -> None:
    layer = span("float32")
    states = prefilled(layer, [2, 2], [1, 1], 0)
    one = torch.zeros(1, 1, layer.hidden_size)
    with pytest.raises(SpanError, match="one step per session"):
        layer.forward_sessions([one], states, start=0, end=4)
    with pytest.raises(SpanError, match=r"\(batch, 1, 64\)"):
        layer.forward_sessions([one, torch.zeros(1, 2, layer.hidden_size)], states, start=0, end=4)
    with pytest.raises(SpanError, match="not within the served span"):
        layer.forward_sessions([one, one], states, start=0, end=9)
    assert [state.length for state in states] == [2, 2]  # refused before anything ran: the caches are as they were
