"""Activation receipts (wire format v1): what a block server signs for every step it computes.

A receipt commits the server to the exact input it was given and output it returned (tensor digests
and shapes), to the weights and span it claims to have used, and to its previous receipt in the same
inference session (a hash chain), so a server cannot later deny, reorder or splice its answers.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from protocol.digests import DIGEST_SIZE, DTYPE_SIZES, blake2b_256
from protocol.errors import WireFormatError
from protocol.records import (
    MAX_U32,
    Check,
    FixedBytes,
    Float,
    Int,
    ListOf,
    Optional,
    Shape,
    Text,
    WireRecord,
)

RECEIPT_ID_SIZE = 16
SESSION_ID_SIZE = 16
CLIENT_NONCE_SIZE = 16
MAX_SKETCH = 64  # top-k entries of an output sketch
MAX_BLOCK = 65_535
MAX_MODEL_ID = 200
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a calendar date can name


@dataclass(frozen=True)
class Receipt(WireRecord):
    """One step of one span on one server, as signed by that server."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/receipt/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 2048
    SIGNER_FIELD: ClassVar[str] = "server_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "receipt_id": FixedBytes(RECEIPT_ID_SIZE),
        "session_id": FixedBytes(SESSION_ID_SIZE),
        "step": Int(0, MAX_U32),
        "server_key": FixedBytes(32),
        "model_id": Text(MAX_MODEL_ID),
        "weights_digest": FixedBytes(DIGEST_SIZE),
        "block_start": Int(0, MAX_BLOCK),
        "block_end": Int(1, MAX_BLOCK),
        "dtype": Text(16, frozenset(DTYPE_SIZES)),
        "input_digest": FixedBytes(DIGEST_SIZE),
        "input_shape": Shape(),
        "output_digest": FixedBytes(DIGEST_SIZE),
        "output_shape": Shape(),
        "prev_receipt": Optional(FixedBytes(DIGEST_SIZE)),
        "client_nonce": FixedBytes(CLIENT_NONCE_SIZE),
        "timestamp_ms": Int(0, MAX_TIMESTAMP_MS),
        "sketch_indices": ListOf(Int(0, MAX_U32), MAX_SKETCH),
        "sketch_values": ListOf(Float(), MAX_SKETCH),
    }

    receipt_id: bytes  # must equal receipt_id_for(server_key, session_id, step), so equivocation collides
    session_id: bytes  # chosen by the client when it opens the session
    step: int  # 0 for the first step of a session (or a stateless forward pass)
    server_key: bytes  # Ed25519 public key of the server, which signs the receipt
    model_id: str
    weights_digest: bytes  # digest of the weights of blocks [block_start, block_end)
    block_start: int
    block_end: int  # exclusive
    dtype: str  # compute dtype of the span: float32, bfloat16 or float16
    input_digest: bytes  # tensor digest of the hidden states the server received
    input_shape: tuple[int, ...]
    output_digest: bytes  # tensor digest of the hidden states it returned
    output_shape: tuple[int, ...]
    prev_receipt: bytes | None  # digest of this server's receipt for step - 1 of the session; None at step 0
    client_nonce: bytes  # chosen by the client per session, so receipts cannot be replayed into another
    timestamp_ms: int  # server's clock, milliseconds since the Unix epoch
    sketch_indices: tuple[int, ...] = ()  # optional output sketch: flat indices of the top-k |values| ...
    sketch_values: tuple[float, ...] = ()  # ... and those values, so a check can start from inputs alone

    def check_consistency(self) -> None:
        if self.block_start >= self.block_end:
            raise WireFormatError(f"Receipt: block span [{self.block_start}, {self.block_end}) is empty")
        if (self.step == 0) != (self.prev_receipt is None):
            raise WireFormatError("Receipt: prev_receipt must be absent exactly at step 0")
        if len(self.sketch_indices) != len(self.sketch_values):
            raise WireFormatError("Receipt: sketch_indices and sketch_values differ in length")
        if self.receipt_id != receipt_id_for(self.server_key, self.session_id, self.step):
            raise WireFormatError("Receipt: receipt_id is not receipt_id_for(server_key, session_id, step)")

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary for people and logs (hex keys and digests)."""
        return {
            "receipt_id": self.receipt_id.hex(),
            "session_id": self.session_id.hex(),
            "step": self.step,
            "server_key": self.server_key.hex(),
            "model_id": self.model_id,
            "blocks": [self.block_start, self.block_end],
            "dtype": self.dtype,
            "input_digest": self.input_digest.hex(),
            "output_digest": self.output_digest.hex(),
            "prev_receipt": self.prev_receipt.hex() if self.prev_receipt else None,
            "timestamp_ms": self.timestamp_ms,
        }


def receipt_id_for(server_key: bytes, session_id: bytes, step: int) -> bytes:
    """The id of a server's receipt for one step of one session.

    Deterministic, so two different receipts a server signs for the same step share an id and the
    ledger sees them as a conflict instead of two unrelated records.
    """
    return blake2b_256(b"swarmtrust/receipt-id/v1", server_key, session_id, struct.pack("<I", step))[:RECEIPT_ID_SIZE]
