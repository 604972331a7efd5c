"""Challenges and verdicts: the signed records of spot-checking.

A ``Challenge`` is a client's request that one server's session be recomputed; it names the evidence
bundle by digest. A ``Verdict`` is a verifier's signed finding on one assignment of a challenge.
``pack_submission`` and ``unpack_submission`` frame a signed challenge with its evidence for the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from protocol.canonical import pack, unpack_list
from protocol.digests import DIGEST_SIZE, DTYPE_SIZES
from protocol.errors import WireFormatError
from protocol.receipts import MAX_BLOCK, MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from protocol.records import MAX_U32, Check, FixedBytes, Float, Int, Text, WireRecord

ID_SIZE = 16
VERDICT_OUTCOMES = frozenset({"pass", "fail", "invalid_evidence"})


@dataclass(frozen=True)
class Challenge(WireRecord):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/challenge/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "submitter_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "challenge_id": FixedBytes(ID_SIZE),
        "submitter_key": FixedBytes(32),
        "server_key": FixedBytes(32),
        "model_id": Text(MAX_MODEL_ID),
        "session_id": FixedBytes(SESSION_ID_SIZE),
        "block_start": Int(0, MAX_BLOCK),
        "block_end": Int(1, MAX_BLOCK),
        "dtype": Text(16, frozenset(DTYPE_SIZES)),
        "first_step": Int(0, MAX_U32),
        "steps": Int(1, MAX_U32),
        "evidence_digest": FixedBytes(DIGEST_SIZE),
        "evidence_bytes": Int(1, 2**40),
        "submitted_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    challenge_id: bytes  # chosen by the submitter (random)
    submitter_key: bytes  # the client (or probing verifier) that kept the evidence; signs the challenge
    server_key: bytes  # the accused
    model_id: str
    session_id: bytes
    block_start: int
    block_end: int
    dtype: str
    first_step: int
    steps: int
    evidence_digest: bytes  # protocol.evidence.evidence_digest of the bundle
    evidence_bytes: int
    submitted_ms: int

    def check_consistency(self) -> None:
        if self.block_start >= self.block_end:
            raise WireFormatError("Challenge: empty block span")


@dataclass(frozen=True)
class Verdict(WireRecord):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/verdict/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "verifier_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "verifier_key": FixedBytes(32),
        "assignment_id": FixedBytes(ID_SIZE),
        "challenge_id": FixedBytes(ID_SIZE),
        "evidence_digest": FixedBytes(DIGEST_SIZE),
        "server_key": FixedBytes(32),
        "outcome": Text(32, VERDICT_OUTCOMES),
        "steps_checked": Int(0, MAX_U32),
        "worst_step": Int(0, MAX_U32),
        "max_rel_error": Float(),
        "mean_rel_error": Float(),
        "max_rel_threshold": Float(),
        "mean_rel_threshold": Float(),
        "decided_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    verifier_key: bytes
    assignment_id: bytes
    challenge_id: bytes
    evidence_digest: bytes
    server_key: bytes
    outcome: str  # pass, fail, or invalid_evidence (the tensors do not match the signed digests)
    steps_checked: int
    worst_step: int  # the step with the largest error
    max_rel_error: float  # over the worst step: max |replayed - claimed| / max |claimed|
    mean_rel_error: float  # over the worst step: mean |replayed - claimed| / mean |claimed|
    max_rel_threshold: float  # the tolerance the verifier applied
    mean_rel_threshold: float
    decided_ms: int


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
