"""The model families swarmtrust can serve: all share Llama's decoder-layer interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarmtrust.protocol.errors import SwarmtrustError


class UnsupportedModelError(SwarmtrustError):
    """The checkpoint's ``model_type`` is not a family swarmtrust knows how to split into blocks."""


@dataclass(frozen=True)
class Family:
    decoder_layer: type[Any]
    rotary_embedding: type[Any]
    rms_norm: type[Any]


def family_of(config: Any) -> Family:
    model_type = getattr(config, "model_type", None)
    if model_type == "llama":
        from transformers.models.llama import modeling_llama as llama

        return Family(llama.LlamaDecoderLayer, llama.LlamaRotaryEmbedding, llama.LlamaRMSNorm)
    if model_type == "mistral":
        from transformers.models.mistral import modeling_mistral as mistral

        return Family(mistral.MistralDecoderLayer, mistral.MistralRotaryEmbedding, mistral.MistralRMSNorm)
    if model_type == "qwen2":
        from transformers.models.qwen2 import modeling_qwen2 as qwen2

        return Family(qwen2.Qwen2DecoderLayer, qwen2.Qwen2RotaryEmbedding, qwen2.Qwen2RMSNorm)
    raise UnsupportedModelError(
        f"model_type {model_type!r} is not supported; swarmtrust serves Llama, Mistral and Qwen2 checkpoints"
    )
