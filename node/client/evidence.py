"""Spot-check evidence on the client: what it keeps of a sampled session, and the challenge it submits.

Only sampled sessions keep their outputs (inputs are kept anyway, for failover), and only up to a byte
budget per session: past it, the client stops keeping evidence of that session rather than grow.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from node.challenges import ID_SIZE, Challenge
from node.evidence import Evidence, evidence_digest
from node.ledger_api import LedgerApi, LedgerApiError
from node.receipts import Receipt
from node.signing import Signed, sign_record

log = logging.getLogger(__name__)


@dataclass
class HopEvidence:
    """What a client kept of one server's session."""

    server_key: str
    receipts: list[Signed[Receipt]] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(map(len, self.inputs)) + sum(map(len, self.outputs))

    def add(self, receipt: Signed[Receipt], sent: bytes, received: bytes) -> None:
        self.receipts.append(receipt)
        self.inputs.append(sent)
        self.outputs.append(received)


def build_challenge(submitter: nacl.signing.SigningKey, kept: HopEvidence) -> tuple[Signed[Challenge], bytes]:
    """The signed challenge and the encoded evidence bundle it names."""
    encoded = Evidence(tuple(r.to_wire() for r in kept.receipts), tuple(kept.inputs), tuple(kept.outputs)).encode()
    return challenge_of(submitter, kept.receipts, encoded), encoded


def challenge_of(
    submitter: nacl.signing.SigningKey, receipts: Sequence[Signed[Receipt]], encoded_evidence: bytes
) -> Signed[Challenge]:
    """A challenge of the session ``receipts`` belong to, naming the encoded evidence, signed by ``submitter``."""
    first = receipts[0].record
    challenge = Challenge(
        challenge_id=os.urandom(ID_SIZE),
        submitter_key=bytes(submitter.verify_key),
        server_key=first.server_key,
        model_id=first.model_id,
        session_id=first.session_id,
        block_start=first.block_start,
        block_end=first.block_end,
        dtype=first.dtype,
        first_step=first.step,
        steps=len(receipts),
        evidence_digest=evidence_digest(encoded_evidence),
        evidence_bytes=len(encoded_evidence),
        submitted_ms=time.time_ns() // 1_000_000,
    )
    return sign_record(challenge, submitter)


def submit_challenges(
    api: LedgerApi, submitter: nacl.signing.SigningKey, kept: list[HopEvidence]
) -> list[dict[str, Any]]:
    """Submit one challenge per kept session; a refusal is reported, never raised (generation succeeded)."""
    results = []
    for item in kept:
        if not item.receipts:
            continue
        challenge, encoded = build_challenge(submitter, item)
        try:
            answer = api.submit_challenge(challenge.to_wire(), encoded)
            results.append({"server_key": item.server_key, "steps": len(item.receipts), **answer})
        except LedgerApiError as exc:
            log.warning("the ledger refused a challenge of server %s: %s", item.server_key[:16], exc)
            results.append({"server_key": item.server_key, "status": "failed", "error": str(exc)})
    return results
