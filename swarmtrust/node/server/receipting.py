"""The receipt of one step: digests of what came in and went out, chained to the session's last one."""

from __future__ import annotations

import time

import nacl.signing

from swarmtrust.protocol.digests import dtype_named, tensor_digest
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.signing import Signed, sign_record


class ReceiptSigner:
    """Signs receipts for one server key, model and dtype."""

    def __init__(self, key: nacl.signing.SigningKey, model_id: str, dtype: str) -> None:
        self._key = key
        self.server_key = bytes(key.verify_key)
        self.model_id = model_id
        self.dtype = dtype_named(dtype)

    def sign_step(
        self,
        *,
        session_id: bytes,
        step: int,
        client_nonce: bytes,
        block_start: int,
        block_end: int,
        weights_digest: bytes,
        input_bytes: bytes,
        input_shape: tuple[int, ...],
        output_bytes: bytes,
        output_shape: tuple[int, ...],
        prev_receipt: bytes | None,
        timestamp_ms: int | None = None,  # default: now (a server passes its session registry's signing time)
    ) -> Signed[Receipt]:
        receipt = Receipt(
            receipt_id=receipt_id_for(self.server_key, session_id, step),
            session_id=session_id,
            step=step,
            server_key=self.server_key,
            model_id=self.model_id,
            weights_digest=weights_digest,
            block_start=block_start,
            block_end=block_end,
            dtype=self.dtype,
            input_digest=tensor_digest(self.dtype, input_shape, input_bytes),
            input_shape=input_shape,
            output_digest=tensor_digest(self.dtype, output_shape, output_bytes),
            output_shape=output_shape,
            prev_receipt=prev_receipt,
            client_nonce=client_nonce,
            timestamp_ms=time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms,
        )
        return sign_record(receipt, self._key)

    def sign_twin(self, receipt: Receipt) -> Signed[Receipt]:
        """A second, different receipt for the same step (what only the ``equivocate`` adversary signs)."""
        return sign_record(receipt.replace(timestamp_ms=receipt.timestamp_ms + 1), self._key)
