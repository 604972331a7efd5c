"""A finality proof holds exactly when the ledger key signed the checkpoint and the one before it, they link, and
more than 2/3 of the signing weight co-signed; trimmed to a quorum it fits one DHT value at the largest set."""

from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.checkpoint_proofs import (
    MAX_PROOF_BYTES,
    CheckpointProofRecord,
    FinalityProof,
    NotFinalError,
    publishable,
)
from swarmtrust.protocol.checkpoints import (
    MAX_SIGNING_VERIFIERS,
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    is_final,
    signing_set,
)
from swarmtrust.protocol.signing import Signed, open_signed, sign_record
from tests.builders import signed_checkpoint

LEDGER = nacl.signing.SigningKey(bytes(range(32)))
OTHER_LEDGER = nacl.signing.SigningKey(bytes(range(1, 33)))
VERIFIERS = [nacl.signing.SigningKey(i.to_bytes(2, "big") * 16) for i in range(MAX_SIGNING_VERIFIERS)]


def checkpoint(number: int, previous: Signed[Checkpoint] | None, weights: list[int]) -> Signed[Checkpoint]:
    signers = {bytes(VERIFIERS[i].verify_key): w for i, w in enumerate(weights)}
    return signed_checkpoint(LEDGER, number, previous=previous, signers=signers)


def cosigned(target: Signed[Checkpoint], indices: list[int]) -> tuple[Signed[CheckpointSignature], ...]:
    record, digest = target.record, checkpoint_digest(target)
    return tuple(
        sign_record(CheckpointSignature(bytes(VERIFIERS[i].verify_key), record.ledger_key, record.number, digest),
                    VERIFIERS[i])
        for i in indices
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=8), st.data())
def test_a_proof_holds_exactly_when_the_checkpoint_is_final_under_the_set_before(
    weights: list[int], data: st.DataObject
) -> None:
    first = checkpoint(1, None, weights)
    second = checkpoint(2, first, [1] * len(weights))
    signers = data.draw(st.lists(st.sampled_from(range(len(weights))), unique=True))
    proof = FinalityProof(second, first, cosigned(second, signers))
    final = is_final(second, signing_set(second.record, first.record), proof.signatures)
    if final:
        proof.verify(bytes(LEDGER.verify_key))
    else:
        with pytest.raises(NotFinalError, match="is not final"):
            proof.verify(bytes(LEDGER.verify_key))
    trimmed = publishable(second, first, signing_set(second.record, first.record), proof.signatures)
    assert len(trimmed.signatures) <= len(proof.signatures)
    if final:
        trimmed.verify(bytes(LEDGER.verify_key))  # trimming keeps a quorum


def test_a_proof_under_another_key_or_with_an_unlinked_previous_does_not_hold() -> None:
    first = checkpoint(1, None, [1, 1, 1])
    second = checkpoint(2, first, [1, 1, 1])
    everyone = cosigned(second, [0, 1, 2])
    FinalityProof(second, first, everyone).verify(bytes(LEDGER.verify_key))
    with pytest.raises(NotFinalError, match="signed by another ledger key"):
        FinalityProof(second, first, everyone).verify(bytes(OTHER_LEDGER.verify_key))
    elsewhere = checkpoint(1, None, [1, 1, 1, 1])  # a first checkpoint of another set, which second does not name
    with pytest.raises(NotFinalError, match="is not the one it names"):
        FinalityProof(second, elsewhere, everyone).verify(bytes(LEDGER.verify_key))
    with pytest.raises(NotFinalError, match="signed by the set of checkpoint 1"):
        FinalityProof(second, None, everyone).verify(bytes(LEDGER.verify_key))


def test_the_largest_signing_sets_proof_fits_one_dht_value() -> None:
    weights = [1_000_000] * MAX_SIGNING_VERIFIERS
    first = checkpoint(1, None, weights)
    second = checkpoint(2, first, weights)
    signers = signing_set(second.record, first.record)
    proof = publishable(second, first, signers, cosigned(second, list(range(MAX_SIGNING_VERIFIERS))))
    proof.verify(bytes(LEDGER.verify_key))
    assert len(proof.signatures) == MAX_SIGNING_VERIFIERS * 2 // 3 + 1
    wire = proof.to_wire()
    assert len(wire) <= MAX_PROOF_BYTES
    record = sign_record(CheckpointProofRecord(bytes(LEDGER.verify_key), 2, wire, made_ms=1, expires_ms=2), LEDGER)
    opened = open_signed(CheckpointProofRecord, record.to_wire())
    assert FinalityProof.from_wire(opened.record.proof) == proof
