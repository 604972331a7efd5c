"""Challenges and verdicts: the signed records of spot-checking.

A ``Challenge`` is a client's request that one server's session be recomputed; it names the evidence
bundle by digest. A ``Verdict`` is a verifier's signed finding on one assignment of a challenge.
``pack_submission`` and ``unpack_submission`` frame a signed challenge with its evidence for the ledger.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from swarmtrust.protocol.canonical import pack, unpack_list
from swarmtrust.protocol.digests import DIGEST_SIZE, Dtype
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_BLOCK, MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from swarmtrust.protocol.records import FINITE, MAX_U32, WireRecord, size, text, within

ID_SIZE = 16
VerdictOutcome = Literal["pass", "fail", "invalid_evidence"]
VERDICT_OUTCOMES = frozenset(get_args(VerdictOutcome))


class Challenge(WireRecord, tag=1, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/challenge/v1"
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "submitter_key"

    challenge_id: Annotated[bytes, size(ID_SIZE)]  # chosen by the submitter (random)
    # the client (or probing verifier) that kept the evidence; signs the challenge
    submitter_key: Annotated[bytes, size(32)]
    server_key: Annotated[bytes, size(32)]  # the accused
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    session_id: Annotated[bytes, size(SESSION_ID_SIZE)]
    block_start: Annotated[int, within(0, MAX_BLOCK)]
    block_end: Annotated[int, within(1, MAX_BLOCK)]
    dtype: Dtype
    first_step: Annotated[int, within(0, MAX_U32)]
    steps: Annotated[int, within(1, MAX_U32)]
    evidence_digest: Annotated[bytes, size(DIGEST_SIZE)]  # protocol.evidence.evidence_digest of the bundle
    evidence_bytes: Annotated[int, within(1, 2**40)]
    submitted_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.block_start >= self.block_end:
            raise WireFormatError("Challenge: empty block span")


class Verdict(WireRecord, tag=1, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/verdict/v1"
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "verifier_key"

    verifier_key: Annotated[bytes, size(32)]
    assignment_id: Annotated[bytes, size(ID_SIZE)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    evidence_digest: Annotated[bytes, size(DIGEST_SIZE)]
    server_key: Annotated[bytes, size(32)]
    outcome: VerdictOutcome  # pass, fail, or invalid_evidence (the tensors do not match the signed digests)
    steps_checked: Annotated[int, within(0, MAX_U32)]
    worst_step: Annotated[int, within(0, MAX_U32)]  # the step with the largest error
    max_rel_error: Annotated[float, FINITE]  # over the worst step: max |replayed - claimed| / max |claimed|
    mean_rel_error: Annotated[float, FINITE]  # over the worst step: mean |replayed - claimed| / mean |claimed|
    max_rel_threshold: Annotated[float, FINITE]  # the tolerance the verifier applied
    mean_rel_threshold: Annotated[float, FINITE]
    decided_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


def pack_submission(challenge_wire: bytes, evidence: bytes) -> bytes:
    """What a client posts to the ledger: msgpack ``[signed challenge envelope, evidence bundle]``."""
    return pack([challenge_wire, evidence])


def unpack_submission(body: bytes, *, max_bytes: int) -> tuple[bytes, bytes]:
    """The signed challenge and the evidence of a submission; WireFormatError for anything but two byte strings
    (neither is checked further here: the ledger verifies both)."""
    parts = unpack_list(body, max_bytes=max_bytes, what="challenge submission", canonical=False, max_items=2)
    if len(parts) != 2 or type(parts[0]) is not bytes or type(parts[1]) is not bytes:
        raise WireFormatError("challenge submission: expected [signed challenge bytes, evidence bytes]")
    return parts[0], parts[1]
