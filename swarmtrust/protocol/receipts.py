"""Activation receipts (wire format v1): what a block server signs for every step it computes.

A receipt commits the server to the exact input it was given and output it returned (tensor digests
and shapes), to the weights and span it claims to have used, and to its previous receipt in the same
inference session (a hash chain), so a server cannot later deny, reorder or splice its answers.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Annotated, Any, ClassVar

from swarmtrust.protocol.digests import DIGEST_SIZE, Dtype
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.records import DIM, FINITE, MAX_U32, SHAPE, WireRecord, at_most, size, text, within

RECEIPT_ID_SIZE = 16
_RECEIPT_ID_PREFIX = hashlib.blake2b(b"swarmtrust/receipt-id/v1", digest_size=DIGEST_SIZE)
_STEP = struct.Struct("<I")
SESSION_ID_SIZE = 16
CLIENT_NONCE_SIZE = 16
MAX_SKETCH = 64  # top-k entries of an output sketch
MAX_BLOCK = 65_535
MAX_MODEL_ID = 200
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a calendar date can name


class Receipt(WireRecord, tag=1, frozen=True):
    """One step of one span on one server, as signed by that server."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/receipt/v1"
    MAX_BYTES: ClassVar[int] = 2048
    SIGNER_FIELD: ClassVar[str] = "server_key"

    # must equal receipt_id_for(server_key, session_id, step), so equivocation collides
    receipt_id: Annotated[bytes, size(RECEIPT_ID_SIZE)]
    session_id: Annotated[bytes, size(SESSION_ID_SIZE)]  # chosen by the client when it opens the session
    step: Annotated[int, within(0, MAX_U32)]  # 0 for the first step of a session (or a stateless forward pass)
    server_key: Annotated[bytes, size(32)]  # Ed25519 public key of the server, which signs the receipt
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    weights_digest: Annotated[bytes, size(DIGEST_SIZE)]  # digest of the weights of blocks [block_start, block_end)
    block_start: Annotated[int, within(0, MAX_BLOCK)]
    block_end: Annotated[int, within(1, MAX_BLOCK)]  # exclusive
    dtype: Dtype  # compute dtype of the span: float32, bfloat16 or float16
    input_digest: Annotated[bytes, size(DIGEST_SIZE)]  # tensor digest of the hidden states the server received
    input_shape: Annotated[tuple[Annotated[int, DIM], ...], SHAPE]
    output_digest: Annotated[bytes, size(DIGEST_SIZE)]  # tensor digest of the hidden states it returned
    output_shape: Annotated[tuple[Annotated[int, DIM], ...], SHAPE]
    # digest of this server's receipt for step - 1 of the session; None at step 0
    prev_receipt: Annotated[bytes, size(DIGEST_SIZE)] | None
    # chosen by the client per session, so receipts cannot be replayed into another
    client_nonce: Annotated[bytes, size(CLIENT_NONCE_SIZE)]
    timestamp_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]  # server's clock, milliseconds since the Unix epoch
    # optional output sketch: flat indices of the top-k |values| ...
    sketch_indices: Annotated[tuple[Annotated[int, within(0, MAX_U32)], ...], at_most(MAX_SKETCH)] = ()
    # ... and those values, so a check can start from inputs alone
    sketch_values: Annotated[tuple[Annotated[float, FINITE], ...], at_most(MAX_SKETCH)] = ()

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
    # From a copy of the hash state after the domain: every decoded receipt is checked against its id.
    hashed = _RECEIPT_ID_PREFIX.copy()
    hashed.update(server_key + session_id + _STEP.pack(step))
    return hashed.digest()[:RECEIPT_ID_SIZE]
