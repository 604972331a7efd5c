"""Server-side cost of a receipt (two tensor digests and an Ed25519 signature) against one decode step of
a realistic block: a Llama-7B-shaped decoder layer (hidden 4096, 32 heads, MLP 11008) with a 512-token
KV cache, on CPU, in float32 and bfloat16."""

from __future__ import annotations

import logging
import os
import time

import nacl.signing
import torch
from transformers import DynamicCache, LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from bench.plots import bar_chart
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.tensors import little_endian_bytes, wire_dtype

log = logging.getLogger(__name__)

CACHE_TOKENS = 512
STEPS = 10
RECEIPTS = 300


def llama7b_layer(dtype: torch.dtype) -> Span:
    config = LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32,
        num_hidden_layers=1, max_position_embeddings=4096, vocab_size=32000,
    )  # fmt: skip
    config._attn_implementation = "sdpa"
    generator = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        layer = LlamaDecoderLayer(config, layer_idx=0)
    weights = {
        name: (torch.randn(p.shape, generator=generator) * 0.02).to(dtype) for name, p in layer.named_parameters()
    }
    layer.load_state_dict(weights, assign=True)
    return Span("llama-7b-shaped", config, [layer.eval()], 0, dtype, [bytes(32)])


def filled_cache(span: Span) -> CacheState:
    """A session whose cache already holds 512 positions (random keys and values: the cost is the same)."""
    config, state = span.config, CacheState(DynamicCache())
    head_dim = config.hidden_size // config.num_attention_heads
    shape = (1, config.num_key_value_heads, CACHE_TOKENS, head_dim)
    state.cache.update(torch.randn(shape).to(span.dtype), torch.randn(shape).to(span.dtype), 0)
    state.length = CACHE_TOKENS
    return state


def measure(dtype: torch.dtype) -> tuple[float, float]:
    span = llama7b_layer(dtype)
    state = filled_cache(span)
    hidden = torch.randn(1, 1, 4096).to(dtype)
    step_times = []
    for _ in range(STEPS + 1):
        started = time.perf_counter()
        output = span.forward(hidden, state)
        step_times.append(time.perf_counter() - started)
        state.cache.crop(-1)  # back to 512 positions for the next step
        state.length -= 1
    signer = ReceiptSigner(nacl.signing.SigningKey.generate(), span.model_id, wire_dtype(hidden))
    session, nonce, prev = os.urandom(16), os.urandom(16), os.urandom(32)
    receipt_times = []
    for step in range(1, RECEIPTS + 1):
        started = time.perf_counter()
        signer.sign_step(
            session_id=session, step=step, client_nonce=nonce, block_start=0, block_end=1,
            weights_digest=bytes(32), input_bytes=bytes(little_endian_bytes(hidden)), input_shape=(1, 1, 4096),
            output_bytes=bytes(little_endian_bytes(output)), output_shape=(1, 1, 4096), prev_receipt=prev,
        )  # fmt: skip
        receipt_times.append(time.perf_counter() - started)
    return median(step_times[1:]), median(receipt_times)


def run() -> Section:
    rows = []
    shares: dict[str, float] = {}
    for dtype in (torch.float32, torch.bfloat16):
        log.info("Llama-7B-shaped layer in %s ...", dtype)
        step, receipt = measure(dtype)
        shares[wire_dtype(torch.empty(0, dtype=dtype))] = 100 * receipt / step
        rows.append(
            [
                wire_dtype(torch.empty(0, dtype=dtype)),
                f"{step * 1e3:.1f} ms",
                f"{receipt * 1e6:.0f} µs",
                f"{receipt / step:.3%}",
            ]
        )
    markdown = "\n\n".join(
        [
            "## Receipt cost on the server (issue 3)",
            f"Machine: {machine_summary()}; torch with {torch.get_num_threads()} threads for the layer, the receipt "
            f"on one. One decode step of a Llama-7B-shaped decoder layer with a {CACHE_TOKENS}-token KV cache "
            f"(median of {STEPS}), and one receipt for it: tensor digests of the step's input and output, the "
            f"receipt's encoding and its Ed25519 signature (median of {RECEIPTS}).",
            table(["dtype", "decode step", "receipt", "receipt ÷ step"], rows),
            "Target: ≤ 1% of the step.",
            bar_chart(
                "receipt-cost",
                "A receipt's cost on the server, against one decode step of a Llama-7B-shaped layer",
                list(shares),
                {"receipt ÷ step": list(shares.values())},
                ylabel="% of the decode step",
                target=1.0,
            ),
        ]
    )
    targets = tuple(
        Target(f"receipt ÷ decode step, 7B-shaped layer, {dtype}", f"{share:.2f}%", "≤ 1%", share <= 1.0)
        for dtype, share in shares.items()
    )
    return Section("receipt-cost", markdown, targets)
