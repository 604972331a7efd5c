"""Evidence of one server's session: its signed receipts with the exact tensors they commit to.

A client that spot-checks a session keeps, for each step, the bytes it sent, and for a random set of steps
chosen as the session goes (which the server cannot see) the bytes it got back. Bundled with the receipts
they are *evidence*: anyone can check that every tensor hashes to the digest the server signed, so neither
a client nor a verifier can frame a server with tensors of its own making, and the server cannot deny what
it returned. The bundle is content-addressed by its digest.

Evidence always starts at the session's first step and runs without a gap to its last compared step: a
replay needs every input before a step to rebuild the server's KV cache, so a bundle that left out the
prompt (or any step) would make an honest server's later outputs look wrong. ``verify_evidence`` refuses
anything else, and the refusal is the submitter's fault, never the server's.

    v2 bundle = canonical [2, [receipt wire, ...], inputs, [compared step, ...], outputs]
                inputs: every step's input, outputs: the compared steps' outputs (``protocol.tensor_pack``)
    v1 bundle = canonical [1, [receipt wire, ...], [input bytes, ...], [output bytes, ...]]  (read only:
                every step compared)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarmtrust.protocol.canonical import pack, unpack_list
from swarmtrust.protocol.digests import blake2b_256, tensor_digest
from swarmtrust.protocol.errors import RecordTooLargeError, SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed_many
from swarmtrust.protocol.tensor_pack import pack_tensors, unpack_tensors

EVIDENCE_VERSION = 2
MAX_EVIDENCE_BYTES = 64 * 2**20  # 64 MiB encoded: 10,000 decode steps of a 7B model's bfloat16 span fit
MAX_DECODED_EVIDENCE_BYTES = 4 * MAX_EVIDENCE_BYTES  # tensors unpacked from a bundle, at most
MAX_EVIDENCE_STEPS = 65_536
# Steps one bundle may compare: the prompt's and as many later ones as a client draws (``COMPARED_STEPS``
# in swarmtrust/node/client/evidence.py). Thresholds are set per step, so a bundle comparing more would raise an honest
# server's chance of a false alarm with every step a client chose to add.
MAX_COMPARED_STEPS = 257
_EVIDENCE_DOMAIN = b"swarmtrust/evidence/v1"


class EvidenceError(SwarmtrustError):
    """Evidence that does not hold together; ``step`` is the first step that is wrong (None: the bundle)."""

    def __init__(self, reason: str, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.step = step


@dataclass(frozen=True)
class Evidence:
    receipts: tuple[bytes, ...]  # signed receipt wires, in step order from the session's first step
    inputs: tuple[bytes, ...]  # per step: the hidden states the client sent, as sent
    outputs: tuple[bytes | None, ...]  # per step: what the server returned, for the steps to compare; else None

    @property
    def compared(self) -> tuple[int, ...]:
        """Positions (in the bundle, which are the steps when it starts at step 0) whose outputs it holds."""
        return tuple(index for index, output in enumerate(self.outputs) if output is not None)

    def encode(self) -> bytes:
        compared = self.compared
        kept = [output for output in self.outputs if output is not None]
        item_size = _item_size([*self.inputs, *kept])
        return pack(
            [
                EVIDENCE_VERSION,
                list(self.receipts),
                pack_tensors(self.inputs, item_size),
                list(compared),
                pack_tensors(kept, item_size),
            ]
        )

    @classmethod
    def decode(cls, data: bytes, *, max_bytes: int = MAX_EVIDENCE_BYTES) -> Evidence:
        values = unpack_list(data, max_bytes=max_bytes, what="evidence", max_items=MAX_EVIDENCE_STEPS)
        if values and type(values[0]) is int and values[0] == 1:
            evidence = _decode_v1(values)
        elif len(values) == 5 and values[0] == EVIDENCE_VERSION:
            evidence = _decode_v2(values)
        else:
            raise WireFormatError(f"evidence must be [{EVIDENCE_VERSION}, receipts, inputs, compared, outputs]")
        if not 0 < len(evidence.receipts) <= MAX_EVIDENCE_STEPS:
            raise WireFormatError(f"evidence needs 1 to {MAX_EVIDENCE_STEPS} steps")
        if not 0 < len(evidence.compared) <= MAX_COMPARED_STEPS:
            raise WireFormatError(f"evidence must compare 1 to {MAX_COMPARED_STEPS} steps")
        return evidence


def _decode_v1(values: list[object]) -> Evidence:
    if len(values) != 4:
        raise WireFormatError("evidence v1 must be [1, receipts, inputs, outputs]")
    parts = values[1:]
    if not all(isinstance(part, list) and all(type(item) is bytes for item in part) for part in parts):
        raise WireFormatError("evidence lists must hold bytes only")
    receipts: tuple[bytes, ...]
    inputs: tuple[bytes, ...]
    outputs: tuple[bytes, ...]
    receipts, inputs, outputs = (tuple(part) for part in parts)  # type: ignore[arg-type]
    if not len(receipts) == len(inputs) == len(outputs):
        raise WireFormatError("evidence needs a receipt and two tensors for each step")
    return Evidence(receipts, inputs, outputs)


def _decode_v2(values: list[object]) -> Evidence:
    _, receipts, packed_inputs, compared, packed_outputs = values
    if not (isinstance(receipts, list) and all(type(item) is bytes for item in receipts)):
        raise WireFormatError("evidence receipts must be a list of bytes")
    if len(receipts) > MAX_EVIDENCE_STEPS:
        raise WireFormatError(f"evidence needs 1 to {MAX_EVIDENCE_STEPS} steps")
    if not (isinstance(compared, list) and all(type(step) is int for step in compared)):
        raise WireFormatError("evidence's compared steps must be a list of integers")
    if any(not 0 <= step < len(receipts) for step in compared) or compared != sorted(set(compared)):
        raise WireFormatError("evidence's compared steps must be distinct, ascending and within its steps")
    try:
        inputs = unpack_tensors(
            packed_inputs, max_bytes=MAX_DECODED_EVIDENCE_BYTES, what="evidence inputs", max_tensors=len(receipts)
        )
        budget = MAX_DECODED_EVIDENCE_BYTES - sum(map(len, inputs))
        kept = unpack_tensors(packed_outputs, max_bytes=budget, what="evidence outputs", max_tensors=len(compared))
    except RecordTooLargeError as exc:
        raise WireFormatError(str(exc)) from exc
    if len(inputs) != len(receipts) or len(kept) != len(compared):
        raise WireFormatError("evidence needs an input for every step and an output for every compared step")
    outputs: list[bytes | None] = [None] * len(receipts)
    for step, output in zip(compared, kept, strict=True):
        outputs[step] = output
    return Evidence(tuple(receipts), inputs, tuple(outputs))


def _item_size(items: Sequence[bytes]) -> int:
    """The largest element size that divides every tensor's length (byte planes line up with elements)."""
    return next(size for size in (4, 2, 1) if all(len(item) % size == 0 for item in items))


def evidence_digest(encoded: bytes) -> bytes:
    """The digest that names an encoded evidence bundle (challenges commit to it)."""
    return blake2b_256(_EVIDENCE_DOMAIN, encoded)


def verify_evidence(evidence: Evidence, server_key: bytes) -> list[Signed[Receipt]]:
    """The receipts, once every one is ``server_key``'s, of one session from its first step on, consecutive,
    chained, and every tensor hashes to the digest its receipt signed; EvidenceError naming the first step
    that is not."""
    receipts: list[Signed[Receipt]] = []
    for index, opened in enumerate(open_signed_many(Receipt, evidence.receipts)):
        if isinstance(opened, WireFormatError | SignatureError):
            raise EvidenceError("bad_receipt", f"receipt {index} does not verify: {opened}", index)
        receipts.append(opened)
    first = receipts[0].record
    if first.step != 0:
        # Without the steps before it the replay lacks the server's KV cache: an honest server's outputs
        # would not match. Evidence is a whole session from its start, or nothing.
        raise EvidenceError(
            "not_from_start", f"evidence starts at step {first.step}: it must start at the session's step 0", 0
        )
    for index, signed in enumerate(receipts):
        r = signed.record
        if r.server_key != server_key:
            raise EvidenceError("wrong_server", f"receipt {index} is not signed by the accused server", r.step)
        same_session = (r.session_id, r.client_nonce, r.model_id, r.block_start, r.block_end, r.dtype, r.weights_digest)
        if same_session != (first.session_id, first.client_nonce, first.model_id, first.block_start, first.block_end,
                            first.dtype, first.weights_digest):  # fmt: skip
            raise EvidenceError("mixed_sessions", f"receipt {index} belongs to another session or span", r.step)
        if r.step != index:
            raise EvidenceError("gap", f"receipt {index} is step {r.step}, expected {index}", r.step)
        if index and r.prev_receipt != receipts[index - 1].digest:
            raise EvidenceError("broken_chain", f"step {r.step} does not link to step {r.step - 1}", r.step)
        _check_tensor(evidence.inputs[index], r.dtype, r.input_shape, r.input_digest, "input", r.step)
        output = evidence.outputs[index]
        if output is not None:
            _check_tensor(output, r.dtype, r.output_shape, r.output_digest, "output", r.step)
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
