"""The client's part of the model: token embeddings in, final norm and LM head out."""

from __future__ import annotations

import torch

from swarmtrust.node.model.checkpoint import Checkpoint
from swarmtrust.node.model.families import family_of
from swarmtrust.node.model.source import ModelSource
from swarmtrust.node.model.span import load_config


class ModelHead:
    def __init__(self, source: ModelSource) -> None:
        config = load_config(source)
        checkpoint = Checkpoint(source.directory)
        self.source = source
        self.config = config
        self.hidden_size: int = config.hidden_size
        self.num_blocks: int = config.num_hidden_layers
        embed = checkpoint.load("model.embed_tokens.")["weight"].float()
        self.embed_tokens = torch.nn.Embedding.from_pretrained(embed, freeze=True)
        self.norm = family_of(config).rms_norm(config.hidden_size, eps=config.rms_norm_eps)
        self.norm.load_state_dict(checkpoint.load("model.norm."))
        self.norm.float().eval()
        lm_head = embed if config.tie_word_embeddings else checkpoint.load("lm_head.")["weight"].float()
        self.lm_head = torch.nn.Linear(config.hidden_size, lm_head.shape[0], bias=False)
        self.lm_head.weight = torch.nn.Parameter(lm_head, requires_grad=False)

    @torch.inference_mode()
    def embed(self, token_ids: torch.Tensor) -> torch.Tensor:
        """(batch, tokens) ids -> (batch, tokens, hidden) float32 hidden states for block 0."""
        return self.embed_tokens(token_ids)

    @torch.inference_mode()
    def final_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """The last block's output after the model's final norm (what the LM head reads)."""
        return self.norm(hidden.float())

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states after the last block -> logits over the vocabulary."""
        return self.logits_of_normed(self.final_norm(hidden))

    @torch.inference_mode()
    def logits_of_normed(self, normed: torch.Tensor) -> torch.Tensor:
        """Logits from hidden states that already went through ``final_norm`` (a decode step needs both)."""
        return self.lm_head(normed)
