"""What Ed25519 itself costs a receipt, timed in a tight loop: the floor under the trust layer's cost per step,
which signs one receipt per hop on its server and checks it on the client."""

from __future__ import annotations

import os
import statistics
import time

import nacl.signing

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
