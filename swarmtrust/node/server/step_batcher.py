"""Concurrent sessions' one-token steps, gathered into batched forward passes (``Span.forward_sessions``).

A step waits for no one: the first step to arrive is computed as soon as the event loop has run the handlers
that are ready with it, so a lone client is served as soon as before. While a batch computes, the steps that
arrive queue up, and the next batch takes all of them (up to ``per_pass`` steps a pass, the oldest first): no
session is passed over, and under load each forward pass serves many sessions. Only one-token steps are
batched; prefills and stateless forwards run alone.

Steps batch when they run the same blocks (a session's sub-span of the server's). A batch of one is the
lone forward pass exactly (``Span.forward``), bit for bit. A batch of several differs from it in low bits,
which a verifier's tolerance absorbs but an exact stepwise replay cannot (``docs/verification.md``): a server
in a swarm whose verifiers compare bits serves with ``per_pass`` 1 (``--batch-sessions 1``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from swarmtrust.node.model.span import CacheState, Span

log = logging.getLogger(__name__)

SkippedBlocks = Callable[[int, int], frozenset[int]]  # blocks a server leaves out of a span (adversaries only)


@dataclass
class _Waiting:
    hidden: torch.Tensor  # (batch, 1, hidden)
    state: CacheState
    blocks: tuple[int, int]
    done: asyncio.Future[torch.Tensor]


class StepBatcher:
    def __init__(
        self, span: Span, per_pass: int, skipped: SkippedBlocks, on_pass: Callable[[int], None] = lambda _: None
    ) -> None:
        if per_pass < 1:
            raise ValueError(f"a batch holds at least one session's step, not {per_pass}")
        self.span = span
        self.per_pass = per_pass
        self._skipped = skipped
        self._waiting: list[_Waiting] = []
        self._scheduled = False
        self._on_pass = on_pass  # told the number of steps of each forward pass it computes

    async def step(self, hidden: torch.Tensor, state: CacheState, start: int, end: int) -> torch.Tensor:
        """A session's one-token step over blocks ``[start, end)``, computed with whichever steps wait with it."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(hidden, state, (start, end), loop.create_future())
        self._waiting.append(waiting)
        if not self._scheduled:  # after the handlers that are ready now: their steps join this batch
            self._scheduled = True
            loop.call_soon(self._run)
        return await waiting.done

    def _run(self) -> None:
        self._scheduled = False
        waiting = [w for w in self._waiting if not w.done.done()]  # a cancelled session's step is not computed
        self._waiting = []
        groups: dict[tuple[int, int], list[_Waiting]] = {}
        for w in waiting:
            groups.setdefault(w.blocks, []).append(w)
        for (start, end), group in groups.items():
            for first in range(0, len(group), self.per_pass):
                self._compute(start, end, group[first : first + self.per_pass])

    def _compute(self, start: int, end: int, batch: list[_Waiting]) -> None:
        skip = self._skipped(start, end)
        try:
            if len(batch) == 1:
                outputs = [self.span.forward(batch[0].hidden, batch[0].state, start=start, end=end, skip=skip)]
            else:
                outputs = self.span.forward_sessions(
                    [w.hidden for w in batch], [w.state for w in batch], start=start, end=end, skip=skip
                )
        except Exception as exc:  # inputs were checked before: this is the server's fault, and each step's end
            log.exception("a batched forward pass of %d sessions failed", len(batch))
            for w in batch:
                w.done.set_exception(exc)
            return
        self._on_pass(len(batch))
        for w, output in zip(batch, outputs, strict=True):
            w.done.set_result(output)
