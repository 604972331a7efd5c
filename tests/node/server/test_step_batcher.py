"""The step batcher: concurrent one-token steps share a forward pass, a lone step runs as it always did, no step
waits on a timer or is passed over, and a pass that fails fails its own steps only."""

from __future__ import annotations

import asyncio
import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.server.step_batcher import StepBatcher
from tests.node.swarm_helpers import tiny


@functools.cache
def span() -> Span:
    return Span.load(tiny(), 0, 4)


def no_skips(start: int, end: int) -> frozenset[int]:
    return frozenset()


def state_after(tokens: int, seed: int) -> CacheState:
    state = CacheState()
    span().forward(torch.randn(1, tokens, 64, generator=torch.Generator().manual_seed(seed)), state)
    return state


def test_a_lone_step_is_the_plain_forward_pass_bit_for_bit() -> None:
    passes: list[int] = []
    batcher = StepBatcher(span(), 16, no_skips, passes.append)
    x = torch.randn(1, 1, 64)
    want = span().forward(x, state_after(5, 1))
    got = asyncio.run(batcher.step(x, state_after(5, 1), 0, 4))
    assert torch.equal(got, want)
    assert passes == [1]


@settings(max_examples=20, deadline=None)
@given(count=st.integers(1, 12), limit=st.integers(1, 5), sub_span=st.lists(st.booleans(), min_size=12, max_size=12))
def test_steps_that_arrive_together_share_passes_and_none_is_left_out(
    count: int, limit: int, sub_span: list[bool]
) -> None:
    """``count`` sessions step at once, some over blocks 0:4 and some 1:3: every step is answered, each pass
    holds steps of one block range, at most ``limit`` of them, and the passes cover the steps exactly once."""
    passes: list[int] = []
    batcher = StepBatcher(span(), limit, no_skips, passes.append)
    blocks = [(1, 3) if sub_span[i] else (0, 4) for i in range(count)]
    states = [state_after(2 + i, i) for i in range(count)]
    inputs = [torch.randn(1, 1, 64) for _ in range(count)]

    async def together() -> list[torch.Tensor]:
        return await asyncio.gather(*(batcher.step(x, s, *b) for x, s, b in zip(inputs, states, blocks, strict=True)))

    outputs = asyncio.run(together())
    assert len(outputs) == count and all(o.shape == (1, 1, 64) for o in outputs)
    assert sum(passes) == count and max(passes) <= limit
    per_range = {b: blocks.count(b) for b in set(blocks)}
    assert len(passes) == sum(-(-n // limit) for n in per_range.values())  # as few passes as the limit allows
    assert [s.length for s in states] == [3 + i for i in range(count)]


def test_steps_that_arrive_one_after_another_each_run_alone() -> None:
    passes: list[int] = []
    batcher = StepBatcher(span(), 16, no_skips, passes.append)
    state = state_after(3, 0)

    async def in_turn() -> None:
        for _ in range(4):
            await batcher.step(torch.randn(1, 1, 64), state, 0, 4)

    asyncio.run(in_turn())
    assert passes == [1, 1, 1, 1] and state.length == 7


def test_a_step_whose_session_went_away_is_not_computed() -> None:
    passes: list[int] = []
    batcher = StepBatcher(span(), 16, no_skips, passes.append)
    kept, dropped = state_after(3, 0), state_after(4, 1)

    async def one_leaves() -> torch.Tensor:
        leaving = asyncio.ensure_future(batcher.step(torch.randn(1, 1, 64), dropped, 0, 4))
        staying = asyncio.ensure_future(batcher.step(torch.randn(1, 1, 64), kept, 0, 4))
        await asyncio.sleep(0)  # both steps wait in the batcher now
        leaving.cancel()
        return await staying

    asyncio.run(one_leaves())
    assert passes == [1] and kept.length == 4 and dropped.length == 4


def test_a_failed_pass_fails_its_own_steps_and_the_batcher_goes_on() -> None:
    class Failing(Span):
        def forward_sessions(self, *args: object, **kwargs: object) -> list[torch.Tensor]:
            raise RuntimeError("out of memory")

    layer = span()
    failing = Failing(layer.model_id, layer.config, layer.layers, layer.start, layer.dtype, layer.layer_digests)
    batcher = StepBatcher(failing, 16, no_skips)

    async def run() -> tuple[list[BaseException | torch.Tensor], torch.Tensor]:
        failed = await asyncio.gather(
            *(batcher.step(torch.randn(1, 1, 64), state_after(2, i), 0, 4) for i in range(3)), return_exceptions=True
        )
        alone = await batcher.step(torch.randn(1, 1, 64), state_after(2, 9), 0, 4)  # a lone step still runs
        return failed, alone

    failed, alone = asyncio.run(run())
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert alone.shape == (1, 1, 64)


def test_a_batch_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        StepBatcher(span(), 0, no_skips)
