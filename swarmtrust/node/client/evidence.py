"""Spot-check evidence on the client: what it keeps of a sampled session, and the challenge it submits.

Only sampled sessions keep evidence (the server cannot tell which: the draw happens on the client). Of
those the client keeps every receipt and every input (a replay needs all of them), and outputs for the
first step (the prompt) plus a uniform random set of the later steps, drawn as the session goes by
reservoir sampling: each step may be compared, and no step's fate is known until the session ends, so
a server cannot learn which of its answers will be checked. A long session's evidence stays within the
budget: inputs compress (``protocol.tensor_pack``), and a session too long even for that is cut to its
longest prefix that fits, which is still whole from step 0.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.challenges import ID_SIZE, Challenge
from swarmtrust.protocol.evidence import (
    MAX_COMPARED_STEPS,
    MAX_DECODED_EVIDENCE_BYTES,
    MAX_EVIDENCE_BYTES,
    Evidence,
    evidence_digest,
)
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, sign_record

log = logging.getLogger(__name__)

COMPARED_STEPS = MAX_COMPARED_STEPS - 1  # later steps whose outputs a checked session keeps, besides its first


@dataclass
class HopEvidence:
    """What a client kept of one server's session."""

    server_key: str
    compared_steps: int = COMPARED_STEPS  # outputs kept for the first step and at most this many others
    max_bundle_bytes: int = MAX_EVIDENCE_BYTES  # the encoded bundle's limit (the ledger's)
    max_kept_bytes: int = MAX_DECODED_EVIDENCE_BYTES  # raw bytes kept at most: later steps are not kept
    receipts: list[Signed[Receipt]] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: dict[int, bytes] = field(default_factory=dict)  # by step: the outputs to compare
    rng: random.Random = field(default_factory=random.SystemRandom)  # which later steps: nobody can predict
    full: bool = False  # the kept bytes reached ``max_kept_bytes``: the bundle ends here
    _slots: list[int] = field(default_factory=list)  # the reservoir: later steps whose outputs are kept
    _size: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.compared_steps <= COMPARED_STEPS:
            raise ValueError(f"compared_steps must be 0 to {COMPARED_STEPS}: the ledger refuses bundles comparing more")

    @property
    def size(self) -> int:
        """Raw bytes of tensors kept."""
        return self._size

    def add(self, receipt: Signed[Receipt], sent: bytes, received: bytes) -> None:
        """Keep the next step: its receipt and input always, its output if the reservoir draws it."""
        if self.full:
            return
        if self._size + len(sent) + len(received) > self.max_kept_bytes:
            log.warning(
                "evidence of %s's session reached %d bytes: it ends at step %d",
                self.server_key[:16],
                self.max_kept_bytes,
                len(self.receipts),
            )
            self.full = True
            return
        step = len(self.receipts)
        self.receipts.append(receipt)
        self.inputs.append(sent)
        self._size += len(sent)
        if step == 0:  # the prompt's step: always compared
            self._keep_output(step, received)
        elif len(self._slots) < self.compared_steps:
            self._slots.append(step)
            self._keep_output(step, received)
        else:  # reservoir sampling: every later step ends up kept with the same chance
            slot = self.rng.randrange(step)
            if slot < self.compared_steps:
                self._size -= len(self.outputs.pop(self._slots[slot]))
                self._slots[slot] = step
                self._keep_output(step, received)

    def _keep_output(self, step: int, received: bytes) -> None:
        self.outputs[step] = received
        self._size += len(received)

    def evidence(self) -> tuple[Evidence, bytes]:
        """The bundle and its encoding: every step, or the longest prefix whose encoding fits the budget."""
        steps = len(self.receipts)
        while True:
            evidence = Evidence(
                tuple(r.to_wire() for r in self.receipts[:steps]),
                tuple(self.inputs[:steps]),
                tuple(self.outputs.get(step) for step in range(steps)),
            )
            encoded = evidence.encode()
            if len(encoded) <= self.max_bundle_bytes or steps == 1:
                if steps < len(self.receipts):
                    log.warning(
                        "evidence of %s's session cut to its first %d of %d steps to fit %d bytes",
                        self.server_key[:16],
                        steps,
                        len(self.receipts),
                        self.max_bundle_bytes,
                    )
                return evidence, encoded
            steps = max(1, min(steps - 1, int(steps * 0.95 * self.max_bundle_bytes / len(encoded))))


def build_challenge(submitter: nacl.signing.SigningKey, kept: HopEvidence) -> tuple[Signed[Challenge], bytes]:
    """The signed challenge and the encoded evidence bundle it names."""
    evidence, encoded = kept.evidence()
    steps = len(evidence.receipts)
    return challenge_of(submitter, kept.receipts[:steps], encoded), encoded


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
