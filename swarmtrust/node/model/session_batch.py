"""Several sessions' one-token steps through a span as one forward pass: how a server batches concurrent clients.

The projections, norms and MLPs run once over every session's rows, which is where batching pays: the weights
are read once per batch instead of once per session. Attention runs per session, over that session's own KV
cache at its own positions, with the kernel a lone step uses: no cache is copied or padded, and no row can
attend to another session's keys. A session's output therefore depends on the other sessions only through the
batch's shape (how many rows the matrix multiplications see), which changes low bits the way a client's own
batch does; its values never reach another row (``tests/node/test_session_batch.py`` holds it to that).

Decoder layers find their attention function by name (``config._attn_implementation``); spans load with
``ATTENTION``, which is sdpa for every ordinary forward pass and per-session sdpa inside a batched one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

ATTENTION = "swarmtrust-sdpa"  # the attention implementation spans load with (``span.load_config``)
ROWS = "swarmtrust_session_rows"  # keyword under which a batched forward hands its sessions to attention


@dataclass
class SessionRows:
    """The sessions of one batched forward: each one's rows of the batch and its KV cache."""

    caches: Sequence[Any]  # each session's DynamicCache
    rows: Sequence[slice]  # each session's rows in the batch
    whole: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = field(default_factory=dict)  # layer → keys, values

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A decoder layer's cache update: each session's new keys and values go to its own cache, whose whole
        contents ``attention`` then reads; the batch's own keys and values pass through unused."""
        self.whole[layer_idx] = [
            cache.update(key_states[rows], value_states[rows], layer_idx)
            for cache, rows in zip(self.caches, self.rows, strict=True)
        ]
        return key_states, value_states


def attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """sdpa, or inside a batched forward (``ROWS`` given) sdpa of each session's rows over its own cache."""
    sessions: SessionRows | None = kwargs.pop(ROWS, None)
    if sessions is None:
        output, _ = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
        return output, None
    layer = sessions.whole[module.layer_idx]  # type: ignore[index]  # set by every decoder layer's attention
    parts = [
        sdpa_attention_forward(module, query[rows], keys, values, None, **kwargs)[0]
        for rows, (keys, values) in zip(sessions.rows, layer, strict=True)
    ]
    return torch.cat(parts), None


AttentionInterface.register(ATTENTION, attention)
