"""The client's check of a receipt, at once, against the step it just took (pure code).

A receipt is accepted only if it is signed by the key the server announced and says exactly what the
client knows to be true of the step: the bytes it sent and received, the session, the step number, the
nonce, the blocks and their weights digest, and the link to the server's previous receipt; and it must be
dated within ``RECEIPT_CLOCK_SLACK_MS`` of the client's clock (a server that dates its receipts as it likes
could sign a twin of a receipt, or the next link of its chain, too far apart in time to convict it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.misbehaviour import RECEIPT_CLOCK_SLACK_MS
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed


class ReceiptFault(SwarmtrustError):
    """A missing or wrong receipt: a protocol fault of the server that sent it. ``receipt`` is the wrong
    receipt when its server did sign it (then it may, with another of that server's receipts, be a proof of
    misbehaviour: ``protocol.misbehaviour``)."""

    def __init__(self, reason: str, message: str, receipt: Signed[Receipt] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.receipt = receipt


@dataclass(frozen=True)
class StepFacts:
    """What the client knows of one step on one server."""

    server_key: bytes
    model_id: str
    weights_digest: bytes
    block_start: int
    block_end: int
    dtype: str
    session_id: bytes
    client_nonce: bytes
    step: int
    prev_receipt: bytes | None
    input_digest: bytes
    input_shape: tuple[int, ...]
    output_digest: bytes
    output_shape: tuple[int, ...]


def check_receipt(
    wire: bytes | None, facts: StepFacts, *, now_ms: int | None = None, slack_ms: int = RECEIPT_CLOCK_SLACK_MS
) -> Signed[Receipt]:
    """The verified receipt, or ReceiptFault naming the first thing that is wrong. ``now_ms`` is the client's
    clock when the reply came (default: the wall clock now)."""
    if wire is None:
        raise ReceiptFault("missing", f"step {facts.step}: the server sent no receipt")
    try:
        signed = open_signed(Receipt, wire)
    except WireFormatError as exc:
        raise ReceiptFault("malformed", f"step {facts.step}: malformed receipt: {exc}") from exc
    except SignatureError as exc:
        raise ReceiptFault("bad_signature", f"step {facts.step}: {exc}") from exc
    r = signed.record
    comparisons = (
        ("wrong_server", r.server_key, facts.server_key),
        ("wrong_session", r.session_id, facts.session_id),
        ("wrong_step", r.step, facts.step),
        ("wrong_nonce", r.client_nonce, facts.client_nonce),
        ("wrong_model", r.model_id, facts.model_id),
        ("wrong_blocks", (r.block_start, r.block_end), (facts.block_start, facts.block_end)),
        ("wrong_weights", r.weights_digest, facts.weights_digest),
        ("wrong_dtype", r.dtype, facts.dtype),
        ("wrong_input", (r.input_digest, r.input_shape), (facts.input_digest, facts.input_shape)),
        ("wrong_output", (r.output_digest, r.output_shape), (facts.output_digest, facts.output_shape)),
        ("broken_chain", r.prev_receipt, facts.prev_receipt),
    )
    for reason, claimed, actual in comparisons:
        if claimed != actual:
            raise ReceiptFault(reason, f"step {facts.step}: receipt has {reason.replace('_', ' ')}", signed)
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if abs(r.timestamp_ms - now) > slack_ms:
        raise ReceiptFault(
            "wrong_time",
            f"step {facts.step}: receipt dated {r.timestamp_ms} ms, {r.timestamp_ms - now:+d} ms from this client's "
            f"clock (at most {slack_ms} ms apart); if this client's clock is wrong, set it right",
            signed,
        )
    return signed
