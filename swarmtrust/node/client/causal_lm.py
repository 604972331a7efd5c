"""A causal language model with transformers' calling conventions whose blocks run on the swarm, every receipt
checked: ``from_pretrained`` and ``generate`` as with ``AutoModelForCausalLM`` (Petals users know this as
``AutoDistributedModelForCausalLM``). The embeddings and the LM head load from the model directory and run
here; each prompt of a batch is its own session through a chain of servers.

    model = DistributedModelForCausalLM.from_pretrained("tiny", initial_peers=[peer])
    ids = tokenizer("Hello", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=20, do_sample=True, temperature=0.8, top_p=0.9, seed=7)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.generation import GenerationResult
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.model.source import ModelSource, resolve_model
from swarmtrust.node.network import NetworkOptions
from swarmtrust.node.sampling import Sampling, StopRule

# transformers' generation arguments this model takes (others are refused by name, never ignored silently).
SUPPORTED = frozenset(
    {
        "max_new_tokens", "max_length", "do_sample", "temperature", "top_k", "top_p", "eos_token_id",
        "pad_token_id", "stop_strings", "num_beams", "num_return_sequences", "use_cache",
    }
)  # fmt: skip


class DistributedModelForCausalLM:
    """Generation through the swarm with transformers' arguments; see the module docstring."""

    def __init__(self, client: SwarmClient, source: ModelSource, *, owns_client: bool = False) -> None:
        from transformers import AutoConfig, GenerationConfig

        self.client = client
        self.source = source
        self.config = AutoConfig.from_pretrained(str(source.directory), local_files_only=True)
        self.generation_config = GenerationConfig.from_model_config(self.config)
        self.last_results: list[GenerationResult] = []  # per prompt of the last generate: receipts, failovers
        self._owns_client = owns_client

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        initial_peers: Sequence[str],
        network: NetworkOptions | None = None,
        client_config: ClientConfig | None = None,
        ledger_url: str | None = None,
        wait: float = 60.0,
    ) -> DistributedModelForCausalLM:
        """``model``: ``tiny`` or a local Hugging Face model directory; waits up to ``wait`` seconds for servers
        to cover every block (NoRouteError otherwise)."""
        source = resolve_model(str(model))
        client = SwarmClient(initial_peers, network=network, config=client_config, ledger_url=ledger_url)
        try:
            client.wait_for_blocks(source.model_id, client.head(source).num_blocks, timeout=wait)
        except BaseException:
            client.close()
            raise
        return cls(client, source, owns_client=True)

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        seed: int | None = None,
        streamer: Any = None,
        tokenizer: Any = None,
        generation_config: Any = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The prompts (batch, tokens) followed by their new tokens, rows of different lengths padded on the
        right with the pad token, as transformers returns them. ``attention_mask`` marks (left) padding to skip;
        ``seed`` fixes sampling; ``streamer`` (a transformers streamer, batch of one) hears the tokens as they
        come; ``tokenizer`` reads the text for ``stop_strings``."""
        settings = self._settings(generation_config, kwargs)
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids of shape {tuple(input_ids.shape)}: expected (batch, tokens)")
        if streamer is not None and input_ids.shape[0] != 1:
            raise ValueError("a streamer takes a batch of one prompt, as in transformers")
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        rows = zip(input_ids, mask, strict=True)
        prompts = [[int(t) for t, keep in zip(row, kept, strict=True) if keep] for row, kept in rows]
        budget = self._budget(settings, input_ids.shape[1])
        stop = StopRule(_ids(settings.eos_token_id), tuple(_strings(settings.stop_strings)))
        decode = (lambda tokens: tokenizer.decode(list(tokens), skip_special_tokens=True)) if tokenizer else None
        if streamer is not None:
            streamer.put(input_ids[0].cpu())
        self.last_results = []
        for index, prompt in enumerate(prompts):
            sampling = _sampling(settings, None if seed is None else seed + index)  # each row a draw of its own
            on_token = (lambda token: streamer.put(torch.tensor([token]))) if streamer is not None else None
            self.last_results.append(
                self.client.generate(
                    self.source, prompt, budget, sampling=sampling, stop=stop, decode=decode, on_token=on_token
                )
            )
        if streamer is not None:
            streamer.end()
        pad = settings.pad_token_id if settings.pad_token_id is not None else next(iter(stop.token_ids), 0)
        out = [[*row.tolist(), *result.tokens] for row, result in zip(input_ids, self.last_results, strict=True)]
        width = max(len(row) for row in out)
        return torch.tensor([row + [pad] * (width - len(row)) for row in out], dtype=torch.long)

    def __call__(self, input_ids: torch.Tensor) -> Any:
        """A forward pass over whole sequences (no cache), as ``model(input_ids)`` gives: ``.logits`` of shape
        (batch, tokens, vocabulary)."""
        from transformers.modeling_outputs import CausalLMOutput

        head = self.client.head(self.source)
        result = self.client.forward(self.source, head.embed(input_ids))
        return CausalLMOutput(logits=head.logits_of_normed(head.final_norm(result.output)))

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DistributedModelForCausalLM:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _settings(self, generation_config: Any, kwargs: dict[str, Any]) -> Any:
        unknown = sorted(set(kwargs) - SUPPORTED)
        if unknown:
            raise TypeError(f"generate() through the swarm does not take {', '.join(unknown)}")
        settings = copy.deepcopy(generation_config or self.generation_config)  # never changes the caller's
        for name, value in kwargs.items():
            setattr(settings, name, value)
        if (settings.num_beams or 1) > 1:
            raise NotImplementedError("beam search is not supported through the swarm: use greedy or sampling")
        if (settings.num_return_sequences or 1) > 1:
            raise NotImplementedError("num_return_sequences > 1: repeat the prompt in the batch instead")
        return settings

    @staticmethod
    def _budget(settings: Any, prompt_length: int) -> int:
        if settings.max_new_tokens is not None:
            return int(settings.max_new_tokens)
        if settings.max_length is not None and settings.max_length > prompt_length:
            return int(settings.max_length) - prompt_length
        raise ValueError("give max_new_tokens (or a max_length longer than the prompt)")


def _sampling(settings: Any, seed: int | None) -> Sampling:
    """The sampling a generation config asks for; unset values: temperature 1, no top-k, no top-p."""
    if not settings.do_sample:
        return Sampling()
    return Sampling(
        temperature=float(settings.temperature if settings.temperature is not None else 1.0),
        top_k=int(settings.top_k or 0),
        top_p=float(settings.top_p if settings.top_p is not None else 1.0),
        seed=seed,
    )


def _ids(value: int | Sequence[int] | None) -> frozenset[int]:
    if value is None:
        return frozenset()
    return frozenset({value}) if isinstance(value, int) else frozenset(int(v) for v in value)


def _strings(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
