"""Evidence of one server's session: its signed receipts with the exact tensors they commit to.

A client that spot-checks a session keeps, for each step, the bytes it sent and the bytes it got back.
Bundled with the receipts they are *evidence*: anyone can check that every tensor hashes to the digest
the server signed, so neither a client nor a verifier can frame a server with tensors of its own making,
and the server cannot deny what it returned. The bundle is content-addressed by its digest.

    bundle = canonical [1, [receipt wire, ...], [input bytes, ...], [output bytes, ...]]   (one entry per step)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.canonical import pack, unpack_list
from node.digests import blake2b_256, tensor_digest
from node.errors import SignatureError, SwarmtrustError, WireFormatError
from node.receipts import Receipt
from node.signing import Signed, open_signed

EVIDENCE_VERSION = 1
MAX_EVIDENCE_BYTES = 64 * 2**20  # 64 MiB: a few hundred steps of a large model's hidden states
MAX_EVIDENCE_STEPS = 4096
_EVIDENCE_DOMAIN = b"swarmtrust/evidence/v1"


class EvidenceError(SwarmtrustError):
    """Evidence that does not hold together; ``step`` is the first step that is wrong (None: the bundle)."""

    def __init__(self, reason: str, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.step = step


@dataclass(frozen=True)
class Evidence:
    receipts: tuple[bytes, ...]  # signed receipt wires, in step order
    inputs: tuple[bytes, ...]  # per step: the hidden states the client sent, as sent
    outputs: tuple[bytes, ...]  # per step: the hidden states the server returned, as received

    def encode(self) -> bytes:
        return pack([EVIDENCE_VERSION, list(self.receipts), list(self.inputs), list(self.outputs)])

    @classmethod
    def decode(cls, data: bytes, *, max_bytes: int = MAX_EVIDENCE_BYTES) -> Evidence:
        values = unpack_list(data, max_bytes=max_bytes, what="evidence")
        if len(values) != 4 or values[0] != EVIDENCE_VERSION:
            raise WireFormatError(f"evidence must be [{EVIDENCE_VERSION}, receipts, inputs, outputs]")
        parts = values[1:]
        if not all(isinstance(part, list) and all(type(item) is bytes for item in part) for part in parts):
            raise WireFormatError("evidence lists must hold bytes only")
        receipts, inputs, outputs = (tuple(part) for part in parts)
        if not 0 < len(receipts) <= MAX_EVIDENCE_STEPS or not len(receipts) == len(inputs) == len(outputs):
            raise WireFormatError(
                f"evidence needs 1 to {MAX_EVIDENCE_STEPS} steps, each with a receipt and two tensors"
            )
        return cls(receipts, inputs, outputs)


def evidence_digest(encoded: bytes) -> bytes:
    """The digest that names an encoded evidence bundle (challenges commit to it)."""
    return blake2b_256(_EVIDENCE_DOMAIN, encoded)


def verify_evidence(evidence: Evidence, server_key: bytes) -> list[Signed[Receipt]]:
    """The receipts, once every one is ``server_key``'s, of one session, consecutive, chained, and every
    tensor hashes to the digest its receipt signed; EvidenceError naming the first step that is not."""
    receipts: list[Signed[Receipt]] = []
    for index, wire in enumerate(evidence.receipts):
        try:
            signed = open_signed(Receipt, wire)
        except (WireFormatError, SignatureError) as exc:
            raise EvidenceError("bad_receipt", f"receipt {index} does not verify: {exc}", index) from exc
        receipts.append(signed)
    first = receipts[0].record
    for index, signed in enumerate(receipts):
        r = signed.record
        if r.server_key != server_key:
            raise EvidenceError("wrong_server", f"receipt {index} is not signed by the accused server", r.step)
        same_session = (r.session_id, r.client_nonce, r.model_id, r.block_start, r.block_end, r.dtype, r.weights_digest)
        if same_session != (first.session_id, first.client_nonce, first.model_id, first.block_start, first.block_end,
                            first.dtype, first.weights_digest):  # fmt: skip
            raise EvidenceError("mixed_sessions", f"receipt {index} belongs to another session or span", r.step)
        if r.step != first.step + index:
            raise EvidenceError("gap", f"receipt {index} is step {r.step}, expected {first.step + index}", r.step)
        if index and r.prev_receipt != receipts[index - 1].digest:
            raise EvidenceError("broken_chain", f"step {r.step} does not link to step {r.step - 1}", r.step)
        _check_tensor(evidence.inputs[index], r.dtype, r.input_shape, r.input_digest, "input", r.step)
        _check_tensor(evidence.outputs[index], r.dtype, r.output_shape, r.output_digest, "output", r.step)
    return receipts


def _check_tensor(data: bytes, dtype: str, shape: Sequence[int], digest: bytes, which: str, step: int) -> None:
    try:
        actual = tensor_digest(dtype, shape, data)
    except WireFormatError as exc:
        raise EvidenceError(f"{which}_mismatch", f"step {step}: the {which} tensor is malformed: {exc}", step) from exc
    if actual != digest:
        raise EvidenceError(
            f"{which}_mismatch", f"step {step}: the {which} tensor is not the one the server signed", step
        )
