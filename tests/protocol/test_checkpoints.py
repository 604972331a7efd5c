"""The quorum rule of co-signed checkpoints, as properties over everything the parties could submit: a
checkpoint is final exactly when verifiers of its signing set holding more than 2/3 of the weight signed that
very checkpoint; signatures of other checkpoints, numbers or ledgers, by outsiders, or repeated, add nothing."""

from __future__ import annotations

import nacl.signing
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.checkpoints import (
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    fork_between,
    is_final,
    signed_weight,
    signing_set,
)
from swarmtrust.protocol.signing import Signed, sign_record
from tests.builders import signed_checkpoint

LEDGER = nacl.signing.SigningKey(bytes(range(32)))
KEYS = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(8)]


def checkpoint(number: int = 1, weights: dict[int, int] | None = None, state: bytes = bytes(32)) -> Signed[Checkpoint]:
    signers = {bytes(KEYS[i].verify_key): w for i, w in (weights or {}).items()}
    return signed_checkpoint(LEDGER, number, signers=signers, state=state)


def cosign(index: int, target: Signed[Checkpoint], *, number: int | None = None, ledger: bytes | None = None,
           digest: bytes | None = None) -> Signed[CheckpointSignature]:  # fmt: skip
    key = KEYS[index]
    record = target.record
    return sign_record(
        CheckpointSignature(
            bytes(key.verify_key),
            ledger or record.ledger_key,
            number or record.number,
            digest or checkpoint_digest(target),
        ),
        key,
    )


signing_sets = st.dictionaries(st.integers(0, 5), st.integers(1, 1000), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(signing_sets, st.data())
def test_final_exactly_past_two_thirds_of_the_weight_of_genuine_signatures(
    weights: dict[int, int], data: st.DataObject
) -> None:
    target = checkpoint(1, weights)
    signers = signing_set(target.record, None)
    members = sorted(weights)
    honest = data.draw(st.lists(st.sampled_from(members), unique=True))
    noise = []  # whatever else a ledger, a client or a minority of verifiers could submit
    for index in data.draw(st.lists(st.integers(0, 7), max_size=6)):
        noise.append(data.draw(st.sampled_from([
            cosign(index, target, number=2),
            cosign(index, target, ledger=bytes(32)),
            cosign(index, target, digest=bytes(32)),
            cosign(index, checkpoint(1, weights, state=b"\x01" * 32)),  # of a rival checkpoint of that number
            cosign(index, target) if index not in weights else cosign(index, target, digest=b"\x02" * 32),
        ])))  # fmt: skip
    repeated = [cosign(i, target) for i in honest] * 2
    signatures = data.draw(st.permutations(repeated + noise))
    weight = sum(weights[i] for i in honest)
    assert signed_weight(target, signers, signatures) == weight
    assert is_final(target, signers, signatures) == (weight * 3 > sum(weights.values()) * 2)


@settings(max_examples=100, deadline=None)
@given(signing_sets)
def test_no_signing_weight_can_be_made_from_outside_the_set(weights: dict[int, int]) -> None:
    target = checkpoint(1, weights)
    outsiders = [cosign(i, target) for i in range(8) if i not in weights]
    assert not is_final(target, signing_set(target.record, None), outsiders)
    assert not is_final(target, {}, [cosign(i, target) for i in weights]), "an empty set finalises nothing"


def test_the_next_checkpoint_is_signed_by_the_set_the_previous_one_fixed() -> None:
    first = checkpoint(1, {0: 1, 1: 1, 2: 1})
    second = checkpoint(2, {5: 100, 6: 100, 7: 100})  # the set it fixes signs the third, not itself
    signers = signing_set(second.record, first.record)
    assert set(signers) == {bytes(KEYS[i].verify_key) for i in (0, 1, 2)}
    assert not is_final(second, signers, [cosign(i, second) for i in (5, 6, 7)])
    assert is_final(second, signers, [cosign(i, second) for i in (0, 1, 2)])


def test_two_checkpoints_of_one_number_prove_a_fork() -> None:
    one, rival = checkpoint(1, {0: 1}), checkpoint(1, {0: 1}, state=b"\x09" * 32)
    fork = fork_between(one.to_wire(), rival.to_wire())
    assert fork is not None and fork.number == 1 and fork.ledger_key == bytes(LEDGER.verify_key)
    assert fork == fork_between(rival.to_wire(), one.to_wire()), "the same proof either way round"
    assert fork_between(one.to_wire(), one.to_wire()) is None
    assert fork_between(one.to_wire(), checkpoint(2, {0: 1}).to_wire()) is None
