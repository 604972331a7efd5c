"""A span of decoder blocks, loaded alone from a checkpoint and run with a KV cache per session.

Servers serve spans; verifiers replay them. Hidden states are ``(batch, tokens, hidden_size)``; the same
``forward`` does a prefill (many tokens), a decode step (one token) or a chunk after an existing cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoConfig, DynamicCache

from swarmtrust.node.model.checkpoint import LAYER_PREFIX, Checkpoint
from swarmtrust.node.model.families import family_of
from swarmtrust.node.model.session_batch import ATTENTION, ROWS, SessionRows
from swarmtrust.node.model.source import ModelSource
from swarmtrust.protocol.digests import span_digest
from swarmtrust.protocol.errors import SwarmtrustError


class SpanError(SwarmtrustError):
    """A span that cannot be loaded or run as asked (bad range, bad input)."""


ResidualObserver = Callable[[torch.Tensor], None]  # called with one (batch, tokens, hidden) residual state


def load_config(source: ModelSource) -> Any:
    config = AutoConfig.from_pretrained(str(source.directory), local_files_only=True)
    # Standalone layers do not get the attention implementation a whole model would pick; sdpa is exact
    # enough for fp32 comparisons and fast on CPU. ATTENTION is sdpa that also serves batched sessions.
    config._attn_implementation = ATTENTION
    return config


@dataclass
class CacheState:
    """One session's KV cache over a span, and how many positions it holds."""

    cache: DynamicCache = field(default_factory=DynamicCache)
    length: int = 0


class Span:
    """Blocks ``[start, end)`` of one model, in one compute dtype."""

    def __init__(
        self,
        model_id: str,
        config: Any,
        layers: list[torch.nn.Module],
        start: int,
        dtype: torch.dtype,
        layer_digests: list[bytes],
        device: torch.device | None = None,
    ) -> None:
        self.model_id = model_id
        self.config = config
        self.layers = layers
        self.start = start
        self.end = start + len(layers)
        self.dtype = dtype
        self.layer_digests = layer_digests
        self.hidden_size: int = config.hidden_size
        self.device = device if device is not None else torch.device("cpu")
        self.rotary = family_of(config).rotary_embedding(config).to(self.device)

    @classmethod
    def load(
        cls,
        source: ModelSource,
        start: int,
        end: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | None = None,
    ) -> Span:
        """Load blocks ``[start, end)`` only: the rest of the checkpoint is never read. They run on ``device``
        (default: the CPU); inputs may live anywhere and outputs come back on the CPU."""
        config = load_config(source)
        total = config.num_hidden_layers
        if not 0 <= start < end <= total:
            raise SpanError(f"blocks {start}:{end} are outside the model's 0:{total}")
        family = family_of(config)
        checkpoint = Checkpoint(source.directory)
        layers: list[torch.nn.Module] = []
        for index in range(start, end):
            with torch.device("meta"):  # no allocation, no random init: the weights come from the file
                layer = family.decoder_layer(config, layer_idx=index - start)  # index into this span's cache
            layer.load_state_dict(checkpoint.load(LAYER_PREFIX.format(index)), strict=True, assign=True)
            layers.append(layer.to(device=device, dtype=dtype).eval())
        digests = [checkpoint.layer_digest(index) for index in range(start, end)]
        return cls(source.model_id, config, layers, start, dtype, digests, device)

    @property
    def weights_digest(self) -> bytes:
        return span_digest(self.layer_digests)

    def digest_of(self, start: int, end: int) -> bytes:
        """Weights digest of the sub-span ``[start, end)``."""
        self._check_range(start, end)
        return span_digest(self.layer_digests[start - self.start : end - self.start])

    @contextmanager
    def observing_residual_stream(self, observe: ResidualObserver) -> Iterator[None]:
        """While open, every forward pass calls ``observe`` with each state of the residual stream.

        The states are those a block adds to: each block's input, its stream between attention and MLP
        (where the family has a ``post_attention_layernorm``) and its output, so the last one seen is the
        span's output. A verifier uses them to know the magnitudes an honest computation summed. The
        hooks exist only inside the ``with``: a server's forward never runs them.
        """

        def before(_module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            observe(args[0] if args else kwargs["hidden_states"])

        def after(_module: torch.nn.Module, _args: tuple[Any, ...], output: Any) -> None:
            observe(output[0] if isinstance(output, tuple) else output)

        handles = []
        try:
            for layer in self.layers:
                handles.append(layer.register_forward_pre_hook(before, with_kwargs=True))
                middle = getattr(layer, "post_attention_layernorm", None)
                if middle is not None:
                    handles.append(middle.register_forward_pre_hook(before, with_kwargs=True))
                handles.append(layer.register_forward_hook(after))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _check_range(self, start: int, end: int) -> None:
        if not self.start <= start < end <= self.end:
            raise SpanError(f"blocks {start}:{end} are not within the served span {self.start}:{self.end}")

    @torch.inference_mode()
    def forward(
        self,
        hidden: torch.Tensor,
        state: CacheState | None = None,
        *,
        start: int | None = None,
        end: int | None = None,
        skip: Collection[int] = (),
    ) -> torch.Tensor:
        """Run blocks ``[start, end)`` (default: the whole span) over ``hidden``.

        With a ``state`` the tokens continue that session (positions follow its cache, which grows);
        without one they are a stateless forward pass from position 0. ``skip`` names blocks to leave
        out (only the ``skip-layers`` adversary does that).
        """
        start, end = start if start is not None else self.start, end if end is not None else self.end
        self._check_range(start, end)
        if hidden.dim() != 3 or hidden.shape[-1] != self.hidden_size:
            raise SpanError(f"hidden states must be (batch, tokens, {self.hidden_size}), got {tuple(hidden.shape)}")
        hidden = hidden.to(device=self.device, dtype=self.dtype)
        batch, tokens = hidden.shape[0], hidden.shape[1]
        past = state.length if state is not None else 0
        positions = torch.arange(past, past + tokens, device=self.device).unsqueeze(0).expand(batch, -1)
        embeddings = self.rotary(hidden, positions)
        mask = causal_mask(tokens, past, self.dtype).to(self.device) if tokens > 1 and past > 0 else None
        cache = state.cache if state is not None else None
        hidden = self._through_layers(
            hidden,
            start,
            end,
            skip,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=cache is not None,
            position_embeddings=embeddings,
        )
        if state is not None:
            state.length += tokens
        return hidden.cpu()  # no copy on the CPU; from a GPU, what digests and the wire need

    @torch.inference_mode()
    def forward_sessions(
        self,
        hidden: Sequence[torch.Tensor],
        states: Sequence[CacheState],
        *,
        start: int,
        end: int,
        skip: Collection[int] = (),
    ) -> list[torch.Tensor]:
        """One-token steps of several sessions (``hidden[i]`` continues ``states[i]``, any batch each) through
        blocks ``[start, end)`` as one forward pass (``node.model.session_batch``): each session's output, as
        ``forward`` would give it up to the low bits the batch's shape changes."""
        self._check_range(start, end)
        if len(hidden) != len(states) or not hidden:
            raise SpanError(f"{len(hidden)} steps for {len(states)} sessions: one step per session, at least one")
        for step in hidden:
            if step.dim() != 3 or step.shape[1] != 1 or step.shape[2] != self.hidden_size:
                raise SpanError(f"a batched step is (batch, 1, {self.hidden_size}), not {tuple(step.shape)}")
        bounds = [0]
        for step in hidden:
            bounds.append(bounds[-1] + step.shape[0])
        rows = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        batch = torch.cat([step.to(device=self.device, dtype=self.dtype) for step in hidden])
        positions = torch.tensor(
            [[state.length] for state, step in zip(states, hidden, strict=True) for _ in range(step.shape[0])],
            device=self.device,
        )
        embeddings = self.rotary(batch, positions)
        sessions = SessionRows([state.cache for state in states], rows)
        batch = self._through_layers(
            batch,
            start,
            end,
            skip,
            position_ids=positions,
            cache=sessions,
            use_cache=True,
            position_embeddings=embeddings,
            **{ROWS: sessions},
        )
        for state in states:
            state.length += 1
        output = batch.cpu()
        return [output[part] for part in rows]

    def _through_layers(
        self, hidden: torch.Tensor, start: int, end: int, skip: Collection[int], **arguments: Any
    ) -> torch.Tensor:
        """``hidden`` through blocks ``[start, end)`` but those in ``skip``, each block called with ``arguments``."""
        for index in range(start, end):
            if index not in skip:
                hidden = self.layers[index - self.start](hidden, **arguments)
        return hidden


def causal_mask(tokens: int, past: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask (1, 1, tokens, past + tokens): each new token sees the cache and the tokens up to itself.

    Needed for a multi-token chunk after a non-empty cache, where sdpa's built-in causal flag would align
    the triangle to the wrong corner; a prefill on an empty cache and a one-token step need none.
    """
    query = torch.arange(tokens).unsqueeze(1) + past
    key = torch.arange(past + tokens).unsqueeze(0)
    mask = torch.zeros(tokens, past + tokens, dtype=dtype).masked_fill(key > query, torch.finfo(dtype).min)
    return mask[None, None]
