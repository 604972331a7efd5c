"""Proof that a checkpoint is final, which anyone checks with the ledger's key and nothing else (pure).

A ``FinalityProof`` carries a checkpoint, the checkpoint before it (which fixes who signs this one; none at
number 1, which fixes its own signers) and co-signatures. It holds when the ledger key signed both checkpoints,
they link by digest, and verifiers of the signing set holding more than 2/3 of its weight signed this very
checkpoint (``protocol.checkpoints.is_final``). The ledger's own word that a checkpoint is "final" counts for
nothing: a ledger that rewrote its history can mark anything final, but cannot make the verifiers sign it.

What a proof does not show by itself is that the signing set is the genuine one: the ledger key could have
signed a previous checkpoint naming verifiers of its own making. A reader who accepted checkpoint n-1 before
checks that this proof's previous checkpoint is that one (``node.client.checkpoint_memory``); a reader with no
history trusts the first signing set it sees (trust on first use, like an SSH host key).

``publishable`` trims a proof to the heaviest signatures that make a quorum, so the largest signing set's proof
fits one DHT value (``CheckpointProofRecord``, published by the ledger service beside its reputation snapshots).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar

from swarmtrust.protocol.canonical import pack, unpack_list
from swarmtrust.protocol.checkpoints import (
    MAX_SIGNING_VERIFIERS,
    QUORUM,
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    signed_weight,
    signing_set,
)
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import MAX_U32, WireRecord, blob, size, within
from swarmtrust.protocol.signing import Signed, open_signed

MAX_PROOF_BYTES = 62_000  # a published proof stays under the DHT value limit (``node.dht``)


class NotFinalError(SwarmtrustError):
    """A proof that does not show its checkpoint final under the ledger key; the message says what fails."""


@dataclass(frozen=True)
class FinalityProof:
    checkpoint: Signed[Checkpoint]
    previous: Signed[Checkpoint] | None  # checkpoint number - 1, whose set signs this one; None at number 1
    signatures: tuple[Signed[CheckpointSignature], ...]

    @property
    def number(self) -> int:
        return self.checkpoint.record.number

    @property
    def digest(self) -> bytes:
        return checkpoint_digest(self.checkpoint)

    def verify(self, ledger_key: bytes) -> None:
        """NotFinalError unless ``ledger_key`` signed the checkpoint (and its previous one, linked by digest) and
        more than 2/3 of the signing set's weight co-signed it."""
        record, number = self.checkpoint.record, self.number
        if self.checkpoint.signer != ledger_key:
            raise NotFinalError(f"checkpoint {number} is signed by another ledger key ({record.ledger_key.hex()})")
        previous = self.previous
        if previous is not None and (previous.signer != ledger_key or checkpoint_digest(previous) != record.previous):
            raise NotFinalError(f"the checkpoint given before checkpoint {number} is not the one it names")
        try:
            signers = signing_set(record, previous.record if previous is not None else None)
        except ValueError as exc:
            raise NotFinalError(str(exc)) from exc
        weight, total = signed_weight(self.checkpoint, signers, self.signatures), sum(signers.values())
        numerator, denominator = QUORUM
        if not (total > 0 and weight * denominator > total * numerator):
            raise NotFinalError(
                f"checkpoint {number} is not final: verifiers holding {weight} of its signing set's {total} weight "
                f"co-signed it, more than {numerator}/{denominator} are needed"
            )

    def to_wire(self) -> bytes:
        previous = self.previous.to_wire() if self.previous is not None else None
        return pack([self.checkpoint.to_wire(), previous, [s.to_wire() for s in self.signatures]])

    @classmethod
    def from_wire(cls, wire: bytes) -> FinalityProof:
        """Decode and open every envelope in it; WireFormatError or SignatureError when one is not valid. (That
        the proof shows finality is ``verify``'s to say.)"""
        parts = unpack_list(wire, max_bytes=MAX_PROOF_BYTES, what="FinalityProof")
        if len(parts) != 3 or not isinstance(parts[2], list) or len(parts[2]) > MAX_SIGNING_VERIFIERS:
            raise WireFormatError(
                f"a FinalityProof is [checkpoint, previous or nil, [at most {MAX_SIGNING_VERIFIERS} signatures]]"
            )
        checkpoint, previous, signatures = parts
        if type(checkpoint) is not bytes or not (previous is None or type(previous) is bytes):
            raise WireFormatError("FinalityProof: checkpoints are envelopes (bytes)")
        if not all(type(s) is bytes for s in signatures):
            raise WireFormatError("FinalityProof: signatures are envelopes (bytes)")
        return cls(
            open_signed(Checkpoint, checkpoint),
            open_signed(Checkpoint, previous) if previous is not None else None,
            tuple(open_signed(CheckpointSignature, s) for s in signatures),
        )


def publishable(
    checkpoint: Signed[Checkpoint],
    previous: Signed[Checkpoint] | None,
    signers: Mapping[bytes, int],
    signatures: Iterable[Signed[CheckpointSignature]],
) -> FinalityProof:
    """The proof with only as many of ``signatures`` as a quorum needs, heaviest signer first (all of them when
    they make none): at most 2/3 of 256 signatures, so that it fits one DHT value."""
    digest, total = checkpoint_digest(checkpoint), sum(signers.values())
    ours = {
        s.record.verifier_key: s
        for s in signatures
        if s.record.checkpoint == digest and s.record.verifier_key in signers
    }
    kept: list[Signed[CheckpointSignature]] = []
    weight = 0
    numerator, denominator = QUORUM
    for key in sorted(ours, key=lambda k: (-signers[k], k)):
        if total > 0 and weight * denominator > total * numerator:
            break
        kept.append(ours[key])
        weight += signers[key]
    return FinalityProof(checkpoint, previous, tuple(kept))


def checkpoint_proof_key(ledger_key: bytes) -> str:
    return f"ledger.{ledger_key.hex()}.checkpoint"


class CheckpointProofRecord(WireRecord, tag=1, frozen=True):
    """The ledger's latest final checkpoint with its proof, published in the DHT (under ``checkpoint_proof_key``,
    subkey the ledger's hex key), so that a client that cannot reach the API still checks what snapshots name."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/checkpoint-proof/v1"
    MAX_BYTES: ClassVar[int] = 63_000
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    number: Annotated[int, within(1, MAX_U32)]
    proof: Annotated[bytes, blob(MAX_PROOF_BYTES)]  # ``FinalityProof.to_wire``
    made_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    expires_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.expires_ms <= self.made_ms:
            raise WireFormatError("CheckpointProofRecord: expires before it was made")

    def dht_keys(self) -> list[str]:
        return [checkpoint_proof_key(self.ledger_key)]
