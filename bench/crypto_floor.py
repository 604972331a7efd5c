"""What a receipt costs apart from everything else a step does: Ed25519 itself in a tight loop, and a hop's whole
receipt (digests, record, signature; the client's check) right after a forward pass, as it runs in a swarm.
Together they are the floor under the trust layer's cost per step, which signs one receipt per hop on its
server and checks it on the client, at once."""

from __future__ import annotations

import os
import statistics
import time

import nacl.signing
import torch

from swarmtrust.node.client.receipt_check import StepFacts, check_receipt
from swarmtrust.node.model.source import ModelSource
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.tensors import little_endian_bytes
from swarmtrust.protocol.digests import tensor_digest

RECEIPT_BYTES = 400  # about a signed receipt's size


def ed25519_ms(samples: int = 200) -> float:
    """Milliseconds of one Ed25519 signature and one check of it over a receipt-sized message (median of
    ``samples`` runs of ten)."""
    key = nacl.signing.SigningKey.generate()
    message = os.urandom(RECEIPT_BYTES)
    runs = []
    for _ in range(samples):
        started = time.perf_counter()
        for _ in range(10):
            key.verify_key.verify(key.sign(message))
        runs.append((time.perf_counter() - started) / 10)
    return 1000 * statistics.median(runs)


def receipt_after_pass_ms(source: ModelSource, start: int, end: int, samples: int = 200) -> float:
    """Milliseconds of one hop's receipt, the server's (input and output digests, the record, its signature) and
    the client's check of it (its own digests of what it sent and got, the signature, every field), each run
    right after a one-token forward pass of blocks ``start:end``: the pass leaves the CPU's caches holding
    weights and activations, not the receipt's code and tables, as in a running chain (median of ``samples``)."""
    span = Span.load(source, start, end)
    signer = ReceiptSigner(nacl.signing.SigningKey.generate(), source.model_id, "float32")
    session, nonce = os.urandom(16), os.urandom(16)
    state = CacheState()
    hidden = torch.randn(1, 1, span.hidden_size)
    runs = []
    prev: bytes | None = None
    for step in range(samples):
        output = span.forward(hidden, state)
        # the bytes travel anyway (the server replies with them): only what receipts add is timed
        sent, got, shape = bytes(little_endian_bytes(hidden)), bytes(little_endian_bytes(output)), tuple(output.shape)
        started = time.perf_counter()
        receipt = signer.sign_step(
            session_id=session,
            step=step,
            client_nonce=nonce,
            block_start=start,
            block_end=end,
            weights_digest=span.weights_digest,
            input_bytes=sent,
            input_shape=shape,
            output_bytes=got,
            output_shape=shape,
            prev_receipt=prev,
        )
        wire = receipt.to_wire()
        runs.append(time.perf_counter() - started)
        span.forward(hidden, state)  # the client's side runs after a pass as well (its own, or the reply's wait)
        started = time.perf_counter()
        facts = StepFacts(
            server_key=signer.server_key,
            model_id=source.model_id,
            weights_digest=span.weights_digest,
            block_start=start,
            block_end=end,
            dtype="float32",
            session_id=session,
            client_nonce=nonce,
            step=step,
            prev_receipt=prev,
            input_digest=tensor_digest("float32", shape, sent),
            input_shape=shape,
            output_digest=tensor_digest("float32", shape, got),
            output_shape=shape,
        )
        prev = check_receipt(wire, facts).digest
        runs[-1] += time.perf_counter() - started
    return 1000 * statistics.median(runs)
