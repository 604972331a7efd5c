"""The embedded ``tiny`` model: a Llama-family causal LM with 8 decoder blocks, built from a fixed seed.

No model hub can be reached, so the model is generated locally: every weight comes from PCG64 raw bits
(NumPy guarantees that bit stream across versions and platforms) seeded by the tensor's name, converted
to float32 by explicit arithmetic, so the weights are byte-identical everywhere. The tokenizer is
byte-level with no merges (ids 3..258 are the bytes 0..255), so it needs no training either.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

TINY_NAME = "tiny"
TINY_VERSION = "v1"
SEED = 20261128

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2
BYTE_OFFSET = len(SPECIAL_TOKENS)
VOCAB_SIZE = BYTE_OFFSET + 256

CONFIG: dict[str, object] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 64,
    "intermediate_size": 176,
    "num_hidden_layers": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


def tensor_shapes(config: dict[str, object] = CONFIG) -> dict[str, tuple[int, ...]]:
    """Every tensor of the checkpoint with its shape, in LlamaForCausalLM's naming."""
    hidden, inner = int(config["hidden_size"]), int(config["intermediate_size"])  # type: ignore[call-overload]
    heads, kv_heads = int(config["num_attention_heads"]), int(config["num_key_value_heads"])  # type: ignore[call-overload]
    head_dim = int(config["head_dim"])  # type: ignore[call-overload]
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (VOCAB_SIZE, hidden),
        "model.norm.weight": (hidden,),
        "lm_head.weight": (VOCAB_SIZE, hidden),
    }
    for i in range(int(config["num_hidden_layers"])):  # type: ignore[call-overload]
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (hidden,),
            p + "post_attention_layernorm.weight": (hidden,),
            p + "self_attn.q_proj.weight": (heads * head_dim, hidden),
            p + "self_attn.k_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.v_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.o_proj.weight": (hidden, heads * head_dim),
            p + "mlp.gate_proj.weight": (inner, hidden),
            p + "mlp.up_proj.weight": (inner, hidden),
            p + "mlp.down_proj.weight": (hidden, inner),
        }
    return shapes


def _uniform(name: str, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """Uniform(-bound, bound) float32 values from the raw PCG64 stream seeded by SEED and ``name``."""
    seed = int.from_bytes(hashlib.blake2b(f"{SEED}:{name}".encode(), digest_size=8).digest(), "little")
    raw = np.random.PCG64(seed).random_raw(math.prod(shape))
    unit = (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)  # exact: 53-bit integers scaled by 2^-53
    return ((unit * 2.0 - 1.0) * bound).astype(np.float32).reshape(shape)


def tiny_tensors(config: dict[str, object] = CONFIG) -> dict[str, np.ndarray]:
    """The checkpoint's tensors. Linear weights ~ U(±sqrt(3/fan_in)) (unit variance through a layer),
    embeddings ~ U(±1), norms with weights near 1, so that activations and logits have a useful spread."""
    out: dict[str, np.ndarray] = {}
    for name, shape in tensor_shapes(config).items():
        if name.endswith("norm.weight"):
            out[name] = (1.0 + _uniform(name, shape, 0.1)).astype(np.float32)
        elif name == "model.embed_tokens.weight":
            out[name] = _uniform(name, shape, 1.0)
        else:
            out[name] = _uniform(name, shape, math.sqrt(3.0 / shape[1]))
    return out


def write_tiny_model(directory: Path, config: dict[str, object] = CONFIG) -> None:
    """Write the tiny model as a normal Hugging Face model directory (config, safetensors, tokenizer).

    Another ``config`` (other sizes of the same architecture) writes a model built the same way: benchmarks and
    calibrations use wider ones (``bench.wide_model``)."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(tiny_tensors(config), str(directory / "model.safetensors"), metadata={"format": "pt"})
    _write_tokenizer(directory)


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-ins for the 256 bytes, which byte-level pre-tokenizers use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def _write_tokenizer(directory: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    vocab |= {char: BYTE_OFFSET + byte for byte, char in sorted(_byte_to_unicode().items())}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(str(directory))


def ensure_tiny_model(cache_dir: Path) -> Path:
    """The tiny model's directory under ``cache_dir``, built there first if missing.

    Built in a temporary sibling and renamed into place, so concurrent first uses (several servers
    starting at once) never see a half-written model.
    """
    target = cache_dir / f"{TINY_NAME}-{TINY_VERSION}"
    if (target / "model.safetensors").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_NAME}-", dir=cache_dir))
    try:
        write_tiny_model(staging)
        os.rename(staging, target)
    except OSError:
        if not (target / "model.safetensors").exists():  # not the benign race of another builder winning
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
