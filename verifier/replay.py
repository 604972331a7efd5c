"""Replaying a server's span from evidence: all the session's inputs as one prefill, in the server's dtype."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

from node.model.source import ModelSource
from node.model.span import Span
from node.tensors import TORCH_DTYPES


class SpanCache:
    """The last few spans a verifier needed, loaded on demand (only those blocks are ever read)."""

    def __init__(self, source: ModelSource, capacity: int = 4) -> None:
        self.source = source
        self.capacity = capacity
        self._spans: OrderedDict[tuple[int, int, str], Span] = OrderedDict()

    def span(self, start: int, end: int, dtype: str) -> Span:
        key = (start, end, dtype)
        if key in self._spans:
            self._spans.move_to_end(key)
            return self._spans[key]
        span = Span.load(self.source, start, end, TORCH_DTYPES[dtype])
        self._spans[key] = span
        if len(self._spans) > self.capacity:
            self._spans.popitem(last=False)
        return span


def replay_session(span: Span, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The span's output for each step of a session, computed as one prefill over all its inputs.

    ``inputs`` are the steps' hidden states as the server received them, (batch, tokens, hidden) each; the
    result has one tensor per step with the same shape, cut from the prefill's positions.
    """
    whole = span.forward(torch.cat(list(inputs), dim=1))
    outputs: list[torch.Tensor] = []
    position = 0
    for step_input in inputs:
        tokens = step_input.shape[1]
        outputs.append(whole[:, position : position + tokens])
        position += tokens
    return outputs
