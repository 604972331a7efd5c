"""Cost of verifying a session by one prefill replay, against the server's time to compute its steps.

A session of a prompt prefill and 64 decode steps is served step by step (with a KV cache, as a block
server does); the verifier checks its evidence: decodes it, verifies every receipt and tensor digest,
replays the span as one prefill over all inputs and compares each step. Measured for the whole ``tiny``
model and for one Llama-7B-shaped decoder layer (hidden 4096), float32, on CPU.
"""

from __future__ import annotations

import logging
import os
import time

import nacl.signing
import torch

from bench.plots import bar_chart
from bench.receipt_cost import llama7b_layer
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.node.model.source import resolve_model
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.tensors import little_endian_bytes
from swarmtrust.protocol.evidence import Evidence
from swarmtrust.verifier.checking import check_evidence
from swarmtrust.verifier.replay import SpanCache, replay_with_scales
from swarmtrust.verifier.tolerance import compare_step, load_tolerances

log = logging.getLogger(__name__)

DECODE_STEPS = 64
PROMPT = 16
ROUNDS = 3


def serve_session(
    span: Span, key: nacl.signing.SigningKey, prompt: int = PROMPT, decode: int = DECODE_STEPS, seed: int = 0
) -> tuple[float, bytes, list[torch.Tensor]]:
    """Serve a ``prompt``-token prefill and ``decode`` one-token steps as a block server does, each step
    receipted; (seconds of the decode steps, encoded evidence, inputs)."""
    seconds, evidence, inputs = serve_timed(span, key, prompt, decode, seed)
    return sum(seconds[1:]), evidence, inputs


def serve_timed(
    span: Span, key: nacl.signing.SigningKey, prompt: int, decode: int, seed: int
) -> tuple[list[float], bytes, list[torch.Tensor]]:
    """As ``serve_session``, with each step's compute seconds (the forward pass alone)."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, prompt + decode, span.hidden_size, generator=generator).to(span.dtype)
    inputs = [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, prompt + decode)]
    signer = ReceiptSigner(key, span.model_id, "float32")
    session, nonce = os.urandom(16), os.urandom(16)
    state, receipts, outputs, prev = CacheState(), [], [], None
    seconds = []
    for step, x in enumerate(inputs):
        started = time.perf_counter()
        y = span.forward(x, state)
        seconds.append(time.perf_counter() - started)
        signed = signer.sign_step(
            session_id=session, step=step, client_nonce=nonce, block_start=span.start, block_end=span.end,
            weights_digest=span.weights_digest, input_bytes=bytes(little_endian_bytes(x)), input_shape=tuple(x.shape),
            output_bytes=bytes(little_endian_bytes(y)), output_shape=tuple(y.shape), prev_receipt=prev,
        )  # fmt: skip
        prev = signed.digest
        receipts.append(signed.to_wire())
        outputs.append(bytes(little_endian_bytes(y)))
    evidence = Evidence(tuple(receipts), tuple(bytes(little_endian_bytes(x)) for x in inputs), tuple(outputs))
    return seconds, evidence.encode(), inputs


def tiny_cost() -> tuple[float, float]:
    """Seconds to serve a session on `tiny` and to check all of its evidence (medians)."""
    source = resolve_model("tiny")
    span = Span.load(source, 0, 8)
    spans, tolerances = SpanCache(source), load_tolerances()
    spans.span(0, 8, "float32")
    key = nacl.signing.SigningKey.generate()
    serve_times, verify_times = [], []
    for _ in range(ROUNDS):
        seconds, evidence, _ = serve_session(span, key)
        serve_times.append(seconds)
        started = time.perf_counter()
        finding = check_evidence(evidence, bytes(key.verify_key), spans, tolerances)
        verify_times.append(time.perf_counter() - started)
        if finding.outcome != "pass":
            raise RuntimeError(f"an honest session did not pass: {finding}")
    return median(serve_times), median(verify_times)


def llama_cost() -> tuple[float, float]:
    """Seconds to serve a session on a Llama-7B-shaped layer and to replay and compare it."""
    span = llama7b_layer(torch.float32)
    key = nacl.signing.SigningKey.generate()
    tolerance = load_tolerances().span("tiny", 0, 8, "float32").step  # per step: no model of this shape is calibrated
    serve_seconds, evidence, inputs = serve_session(span, key)
    decoded = Evidence.decode(evidence)
    started = time.perf_counter()
    replayed = replay_with_scales(span, inputs)
    for step, (data, got) in enumerate(zip(decoded.outputs, replayed, strict=True)):
        if data is None:  # a step the bundle does not compare
            continue
        claimed = torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(got.output.shape)
        compare_step(step, claimed, got.output, tolerance, inner=got.inner)
    return serve_seconds, time.perf_counter() - started


def run() -> Section:
    log.info("verification cost: tiny ...")
    costs = {"`tiny`, all 8 blocks (hidden 64)": tiny_cost()}
    log.info("verification cost: a Llama-7B-shaped layer ...")
    costs["one Llama-7B-shaped layer (hidden 4096), replay and comparison"] = llama_cost()
    ratios = [verify / serve for serve, verify in costs.values()]
    rows = [
        [span, f"{serve * 1e3:.0f} ms", f"{verify * 1e3:.0f} ms", f"{ratio:.3f}"]
        for (span, (serve, verify)), ratio in zip(costs.items(), ratios, strict=True)
    ]
    markdown = "\n\n".join(
        [
            "## Verification cost (issue 4)",
            f"Machine: {machine_summary()}; torch with {torch.get_num_threads()} threads. A session of a "
            f"{PROMPT}-token prompt and {DECODE_STEPS} decode steps, served step by step with a KV cache; the server "
            f"time counts the {DECODE_STEPS} decode steps. For `tiny` the verifier time is the whole check of the "
            "evidence (decoding, every receipt signature and tensor digest, the replay, the comparisons); for the "
            f"7B-shaped layer it is the replay and comparisons. Medians of {ROUNDS} rounds for `tiny`.",
            table(["span", "server: 64 decode steps", "verifier: check by one prefill", "verifier ÷ server"], rows),
            "Target: ≤ 0.2 on CPU.",
            bar_chart(
                "verification-cost",
                "Verifying a 64-step session by one prefill, against serving it",
                ["tiny, 8 blocks", "Llama-7B-shaped layer"],
                {"verifier ÷ server": ratios},
                ylabel="verifier time ÷ server time",
                target=0.2,
            ),
        ]
    )
    targets = tuple(
        Target(f"verify ÷ serve a 64-step session: {span}", f"{ratio:.3f}", "≤ 0.2", ratio <= 0.2)
        for span, ratio in zip(("tiny", "7B-shaped layer"), ratios, strict=True)
    )
    return Section("verification-cost", markdown, targets)
