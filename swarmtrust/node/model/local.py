"""The whole model in one process, through transformers' own implementation: the swarm's reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM

from swarmtrust.node.model.source import ModelSource


@dataclass(frozen=True)
class LocalGeneration:
    tokens: list[int]  # the new tokens, greedy
    final_hidden: list[torch.Tensor]  # per step: the last block's output, after the final norm (batch, tokens, hidden)


class LocalModel:
    def __init__(self, source: ModelSource) -> None:
        self.model = AutoModelForCausalLM.from_pretrained(
            str(source.directory), local_files_only=True, dtype=torch.float32, attn_implementation="sdpa"
        ).eval()

    @torch.inference_mode()
    def generate(
        self, prompt_ids: list[int], max_new_tokens: int, *, on_token: Callable[[int], None] | None = None
    ) -> LocalGeneration:
        """Greedy decoding with a KV cache: one prefill over the prompt, then one token per step;
        ``on_token`` hears each new token as soon as it is chosen."""
        tokens: list[int] = []
        hidden: list[torch.Tensor] = []
        inputs = torch.tensor([prompt_ids])
        cache = None
        for _ in range(max_new_tokens):
            out = self.model(input_ids=inputs, cache=cache, use_cache=True, output_hidden_states=True)
            cache = out.cache
            hidden.append(out.hidden_states[-1])
            token = int(out.logits[0, -1].argmax())
            tokens.append(token)
            if on_token is not None:
                on_token(token)
            inputs = torch.tensor([[token]])
        return LocalGeneration(tokens, hidden)
