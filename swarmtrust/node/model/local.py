"""The whole model in one process, through transformers' own implementation: the swarm's reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM

from swarmtrust.node.model.source import ModelSource
from swarmtrust.node.sampling import Sampling, StopRule, TokenChooser


@dataclass(frozen=True)
class LocalGeneration:
    tokens: list[int]  # the new tokens
    final_hidden: list[torch.Tensor]  # per step: the last block's output, after the final norm (batch, tokens, hidden)
    stopped: str = "length"  # why generation ended: "length" (the token budget), "eos" or "stop string"


class LocalModel:
    def __init__(self, source: ModelSource, device: torch.device | None = None) -> None:
        self.device = device if device is not None else torch.device("cpu")
        self.model = AutoModelForCausalLM.from_pretrained(
            str(source.directory), local_files_only=True, dtype=torch.float32, attn_implementation="sdpa"
        ).eval()
        self.model.to(self.device)

    @torch.inference_mode()
    def generate(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        *,
        on_token: Callable[[int], None] | None = None,
        sampling: Sampling = Sampling(),
        stop: StopRule = StopRule(),
        decode: Callable[[Sequence[int]], str] | None = None,
    ) -> LocalGeneration:
        """Decoding with a KV cache: one prefill over the prompt, then one token per step, chosen as
        ``sampling`` says (greedy by default), until ``max_new_tokens`` or ``stop``; ``on_token`` hears each
        new token as soon as it is chosen."""
        choose = TokenChooser(sampling)
        tokens: list[int] = []
        hidden: list[torch.Tensor] = []
        stopped = "length"
        inputs = torch.tensor([prompt_ids], device=self.device)
        cache = None
        for _ in range(max_new_tokens):
            out = self.model(input_ids=inputs, cache=cache, use_cache=True, output_hidden_states=True)
            cache = out.cache
            hidden.append(out.hidden_states[-1].cpu())
            token = choose(out.logits[0, -1])
            tokens.append(token)
            if on_token is not None:
                on_token(token)
            if (reason := stop.reason(tokens, decode)) is not None:
                stopped = reason
                break
            inputs = torch.tensor([[token]], device=self.device)
        return LocalGeneration(tokens, hidden, stopped)
