"""Ledger checkpoints co-signed by verifiers: a history no single operator can rewrite.

A ``Checkpoint``, signed by the ledger key, fixes the event log up to ``seq``: the chain head there, the Merkle
root of the events since the previous checkpoint, the root of the derived state that matters (reputations,
balances, quarantines: ``ledger.state_root``), the digest of the previous checkpoint, and the weighted set of
verifiers who sign the *next* one. A ``CheckpointSignature`` is one verifier's statement that it recomputed
that checkpoint from the events and found it so.

A checkpoint is **final** when verifiers holding more than 2/3 of the signing weight signed it (``is_final``).
The signing set of checkpoint n is the set checkpoint n-1 fixed (checkpoint 1, which has none before it, is
signed by the set it fixes itself), so the operator cannot pick signers for the history it wants to write: it
could only have chosen them one checkpoint earlier, in plain view, through the weights the event log gives.

An honest ledger computes each checkpoint once, from its events, and signs it once. So two checkpoints with the
same number and different digests under one ledger key prove that the ledger equivocated (``fork_between``),
final or not: anyone holding both can show it, and nobody needs to trust the one who shows.

Pure: records, digests and the quorum rule; the ledger builds checkpoints (``ledger.checkpoints``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar

from swarmtrust.protocol.digests import DIGEST_SIZE, record_digest
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import MAX_U32, WireRecord, at_most, size, within
from swarmtrust.protocol.signing import Signed, open_signed

MAX_SIGNING_VERIFIERS = 256
MAX_WEIGHT = 1_000_000  # one verifier's weight, at most (weights are whole numbers: exact sums, no rounding)
QUORUM = (2, 3)  # more than this share of the signing weight makes a checkpoint final
Digest = Annotated[bytes, size(DIGEST_SIZE)]
PublicKey = Annotated[bytes, size(32)]


class Checkpoint(WireRecord, tag=1, frozen=True):
    """The ledger's statement of its history up to ``seq`` (see the module docstring)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/checkpoint/v1"
    MAX_BYTES: ClassVar[int] = 16_384
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: PublicKey
    number: Annotated[int, within(1, MAX_U32)]  # 1 for the first checkpoint of a ledger
    seq: Annotated[int, within(0, 2**62)]  # the last event it covers
    head_hash: Digest  # that event's chain hash (the genesis hash at seq 0)
    events_root: Digest  # Merkle root of the chain hashes of the events after the previous checkpoint's seq
    event_count: Annotated[int, within(0, 2**62)]  # how many those are (a Merkle root does not say)
    state_root: Digest  # ``ledger.state_root`` of the derived state at ``seq``
    previous: Digest | None  # the previous checkpoint's digest; None for number 1
    # who signs the next checkpoint, and with what weight: fixed by this one (sorted by key, distinct)
    verifier_keys: Annotated[tuple[PublicKey, ...], at_most(MAX_SIGNING_VERIFIERS)]
    verifier_weights: Annotated[tuple[Annotated[int, within(1, MAX_WEIGHT)], ...], at_most(MAX_SIGNING_VERIFIERS)]
    created_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if (self.number == 1) != (self.previous is None):
            raise WireFormatError("Checkpoint: previous must be absent exactly at number 1")
        if len(self.verifier_keys) != len(self.verifier_weights):
            raise WireFormatError("Checkpoint: verifier_keys and verifier_weights differ in length")
        if list(self.verifier_keys) != sorted(set(self.verifier_keys)):
            raise WireFormatError("Checkpoint: verifier_keys must be sorted and distinct")

    @property
    def signing_set(self) -> dict[bytes, int]:
        """The verifiers this checkpoint fixes, with their weights."""
        return dict(zip(self.verifier_keys, self.verifier_weights, strict=True))


class CheckpointSignature(WireRecord, tag=1, frozen=True):
    """A verifier's co-signature: it recomputed checkpoint ``number`` from the events and found ``checkpoint``."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/checkpoint-signature/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "verifier_key"

    verifier_key: PublicKey
    ledger_key: PublicKey  # whose checkpoint: a signature never counts for another ledger
    number: Annotated[int, within(1, MAX_U32)]
    checkpoint: Digest  # ``checkpoint_digest`` of the signed checkpoint


def checkpoint_digest(signed: Signed[Checkpoint]) -> bytes:
    """The digest naming a checkpoint: of its domain and body, which its signature covers."""
    return record_digest(Checkpoint.DOMAIN, signed.body)


def signing_set(checkpoint: Checkpoint, previous: Checkpoint | None) -> dict[bytes, int]:
    """Who signs ``checkpoint``: the set ``previous`` fixed, or its own at number 1."""
    if checkpoint.number == 1:
        return checkpoint.signing_set
    if previous is None or previous.number != checkpoint.number - 1:
        raise ValueError(f"checkpoint {checkpoint.number} is signed by the set of checkpoint {checkpoint.number - 1}")
    return previous.signing_set


def signed_weight(
    signed: Signed[Checkpoint], signers: Mapping[bytes, int], signatures: Iterable[Signed[CheckpointSignature]]
) -> int:
    """The weight of the distinct verifiers of ``signers`` whose signature is of this very checkpoint. Signatures
    are taken as already verified (``Signed``); one of another checkpoint, number or ledger, or by a verifier
    outside the set, counts nothing, and a verifier counts once however often it signs."""
    digest, record = checkpoint_digest(signed), signed.record
    counted: set[bytes] = set()
    for signature in signatures:
        s = signature.record
        ours = (s.checkpoint, s.number, s.ledger_key) == (digest, record.number, record.ledger_key)
        if ours and s.verifier_key in signers:
            counted.add(s.verifier_key)
    return sum(signers[key] for key in counted)


def is_final(
    signed: Signed[Checkpoint], signers: Mapping[bytes, int], signatures: Iterable[Signed[CheckpointSignature]]
) -> bool:
    """True when verifiers of ``signers`` holding more than 2/3 of its total weight signed this checkpoint (an
    empty set, or one of no weight, finalises nothing)."""
    total = sum(signers.values())
    numerator, denominator = QUORUM
    return total > 0 and signed_weight(signed, signers, signatures) * denominator > total * numerator


def open_signatures(wires: Iterable[bytes]) -> list[Signed[CheckpointSignature]]:
    """Co-signatures from their envelopes; WireFormatError or SignatureError for the first that is not one."""
    return [open_signed(CheckpointSignature, wire) for wire in wires]


@dataclass(frozen=True)
class Fork:
    """Proof that a ledger key signed two different checkpoints with one number."""

    ledger_key: bytes
    number: int
    digests: tuple[bytes, bytes]


def fork_between(first: bytes, second: bytes) -> Fork | None:
    """The fork two checkpoint envelopes prove (None when they are one checkpoint, or of other numbers or
    ledgers); WireFormatError or SignatureError when either is not a validly signed checkpoint."""
    a, b = open_signed(Checkpoint, first), open_signed(Checkpoint, second)
    if a.signer != b.signer or a.record.number != b.record.number:
        return None
    da, db = checkpoint_digest(a), checkpoint_digest(b)
    if da == db:
        return None
    return Fork(a.signer, a.record.number, (min(da, db), max(da, db)))
