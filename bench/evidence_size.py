"""Evidence of a long session: 10,000 decode steps of a Llama-7B-sized span (hidden size 4096), kept by the
client's real code (every receipt and input, the first and 256 random later outputs), encoded as the
ledger receives it; per dtype, the bundle's size, how many steps fit the 64 MiB budget, and the time to
build it (client) and to decode and verify it (ledger, verifier).

The hidden states are drawn per channel from normal distributions whose scales spread over orders of
magnitude (log-normal), with one channel 100 times larger, as trained models' residual streams have; the
compression of a 7B-shaped layer's own outputs is reported beside it as a check."""

from __future__ import annotations

import logging
import time

import nacl.signing
import torch

from bench.receipt_cost import llama7b_layer
from bench.report import Section, Target, machine_summary, table
from node.client.evidence import HopEvidence, build_challenge
from node.digests import DTYPE_SIZES
from node.evidence import MAX_EVIDENCE_BYTES, Evidence, verify_evidence
from node.server.receipting import ReceiptSigner
from node.tensor_pack import pack_tensors
from node.tensors import little_endian_bytes, wire_dtype

log = logging.getLogger(__name__)

HIDDEN = 4096
STEPS = 10_000
DTYPES = (torch.bfloat16, torch.float16, torch.float32)
MiB = 2**20


def session_states(dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    scale = torch.exp(torch.randn(HIDDEN, generator=generator))
    scale[7] *= 100
    return (torch.randn(STEPS + 1, HIDDEN, generator=generator) * scale).to(dtype)


def keep(dtype: torch.dtype) -> tuple[HopEvidence, nacl.signing.SigningKey]:
    key = nacl.signing.SigningKey.generate()
    name = wire_dtype(torch.empty(0, dtype=dtype))
    signer = ReceiptSigner(key, "llama-7b-shaped", name)
    states = session_states(dtype)
    kept, prev, shape = HopEvidence("bench"), None, (1, 1, HIDDEN)
    for step in range(STEPS):
        data_in, data_out = bytes(little_endian_bytes(states[step])), bytes(little_endian_bytes(states[step + 1]))
        signed = signer.sign_step(
            session_id=b"s" * 16, step=step, client_nonce=b"n" * 16, block_start=0, block_end=1,
            weights_digest=bytes(32), input_bytes=data_in, input_shape=shape, output_bytes=data_out,
            output_shape=shape, prev_receipt=prev,
        )  # fmt: skip
        prev = signed.digest
        kept.add(signed, data_in, data_out)
    return kept, key


def layer_output_ratio(dtype: torch.dtype) -> float:
    """Raw ÷ packed size of a 7B-shaped layer's outputs for a 512-token prefill, in ``dtype``."""
    span = llama7b_layer(torch.float32)
    hidden = torch.randn(1, 512, HIDDEN, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        rows = span.forward(hidden).to(dtype)[0]
    items = [bytes(little_endian_bytes(row)) for row in rows]
    return sum(map(len, items)) / len(pack_tensors(items, DTYPE_SIZES[wire_dtype(rows)])[3])


def run() -> Section:
    rows, targets = [], []
    for dtype in DTYPES:
        name = wire_dtype(torch.empty(0, dtype=dtype))
        log.info("10,000-step session in %s ...", name)
        kept, key = keep(dtype)
        started = time.perf_counter()
        challenge, encoded = build_challenge(nacl.signing.SigningKey.generate(), kept)
        built = time.perf_counter() - started
        started = time.perf_counter()
        verify_evidence(Evidence.decode(encoded), bytes(key.verify_key))
        verified = time.perf_counter() - started
        fitted = challenge.record.steps
        rows.append(
            [
                name,
                f"{kept.size / MiB:.1f} MiB",
                f"{len(encoded) / MiB:.1f} MiB",
                f"{fitted:,} of {STEPS:,}",
                f"{layer_output_ratio(dtype):.2f}×",
                f"{built:.1f} s",
                f"{verified:.1f} s",
            ]
        )
        if dtype == torch.bfloat16:
            targets.append(
                Target(
                    "10,000-step 7B-sized bfloat16 session, evidence whole",
                    f"{len(encoded) / MiB:.1f} MiB, {fitted:,} steps",
                    f"≤ {MAX_EVIDENCE_BYTES // MiB} MiB, every step",
                    fitted == STEPS and len(encoded) <= MAX_EVIDENCE_BYTES,
                )
            )
    markdown = "\n\n".join(
        [
            "## Evidence of a long session (issue 15)",
            f"Machine: {machine_summary()}. {STEPS:,} decode steps of hidden size {HIDDEN}, kept as a client keeps a "
            "spot-checked session (every receipt and input; outputs of the first step and 256 random later ones) "
            f"and encoded for the ledger (limit {MAX_EVIDENCE_BYTES // MiB} MiB; a longer bundle is cut to its "
            "longest prefix from step 0 that fits). Kept: raw bytes the client holds. Layer outputs: raw ÷ packed "
            "size of a random 7B-shaped layer's own outputs, for comparison with the synthetic states.",
            table(
                ["dtype", "kept", "bundle", "steps in it", "layer outputs packed", "build", "decode + verify"],
                rows,
            ),
            "Target: the bfloat16 session fits whole. float16 keeps 10 mantissa bits and float32 23, which do not "
            "compress: such sessions are checked over their longest prefix that fits (see docs/verification.md).",
        ]
    )
    return Section("evidence-size", markdown, tuple(targets))
