"""A client believes a checkpoint only on its proof: signed by the ledger, linked to the one it holds, co-signed by
more than 2/3 of the weight of the set before. Properties over whatever a ledger could answer and serve as proofs,
with a minority of verifiers signing whatever it asks: the checkpoint a client holds is always a genuine one, and
an honest ledger is never distrusted."""

from __future__ import annotations

import contextlib
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.checkpoint_memory import (
    CheckpointMemory,
    LedgerHistoryError,
    ProofSource,
    StaleAnswerError,
    UnverifiedCheckpointError,
)
from swarmtrust.protocol.checkpoint_proofs import FinalityProof
from swarmtrust.protocol.checkpoints import Checkpoint, CheckpointSignature, checkpoint_digest
from swarmtrust.protocol.signing import Signed, sign_record
from tests.builders import signed_checkpoint

LEDGER = nacl.signing.SigningKey(bytes(range(32)))
KEY = bytes(LEDGER.verify_key)
VERIFIERS = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(6)]
WEIGHTS = [10, 10, 20, 20, 20, 20]  # verifiers 0 and 1 (20 of 100) are the dishonest minority
MINORITY = (0, 1)
FAKES = [nacl.signing.SigningKey(bytes([i + 101]) * 32) for i in range(2)]  # keys the ledger operator made up
LENGTH = 6


def _checkpoint(number: int, previous: Signed[Checkpoint] | None, signers: list[nacl.signing.SigningKey],
                weights: list[int], state: bytes) -> Signed[Checkpoint]:  # fmt: skip
    chosen = {bytes(k.verify_key): w for k, w in zip(signers, weights, strict=True)}
    return signed_checkpoint(LEDGER, number, previous=previous, signers=chosen, state=state)


def _cosigned(
    target: Signed[Checkpoint], keys: list[nacl.signing.SigningKey]
) -> tuple[Signed[CheckpointSignature], ...]:
    digest, record = checkpoint_digest(target), target.record
    return tuple(sign_record(CheckpointSignature(bytes(k.verify_key), KEY, record.number, digest), k) for k in keys)


def _chain(state: bytes, branch_from: list[Signed[Checkpoint]] | None = None) -> list[Signed[Checkpoint]]:
    chain: list[Signed[Checkpoint]] = []
    for number in range(1, LENGTH + 1):
        previous = chain[-1] if chain else None
        if branch_from is not None and number == 1:
            chain.append(branch_from[0])  # a rewrite keeps the first checkpoint and rewrites after it
            continue
        chain.append(_checkpoint(number, previous, VERIFIERS, WEIGHTS, state))
    return chain


GENUINE = _chain(bytes(32))
REWRITTEN = _chain(b"\x01" * 32, branch_from=GENUINE)  # the ledger's rewrite of everything after checkpoint 1
HONEST = [VERIFIERS[i] for i in range(len(VERIFIERS)) if i not in MINORITY]
# a previous checkpoint naming only made-up verifiers, so that the one after it is "final" under them alone
FAKE_SETS = [_checkpoint(n, GENUINE[n - 2] if n > 1 else None, FAKES, [1, 1], b"\x02" * 32) for n in range(1, LENGTH)]
FAKE_FINAL = [_checkpoint(n + 1, FAKE_SETS[n - 1], VERIFIERS, WEIGHTS, b"\x03" * 32) for n in range(1, LENGTH)]


def genuine_proof(number: int) -> FinalityProof:
    previous = GENUINE[number - 2] if number > 1 else None
    return FinalityProof(GENUINE[number - 1], previous, _cosigned(GENUINE[number - 1], HONEST))


PROOFS: dict[str, list[FinalityProof | None]] = {
    "genuine": [genuine_proof(n) for n in range(1, LENGTH + 1)],
    # the rewrite, co-signed by the dishonest minority only
    "rewritten": [
        FinalityProof(
            REWRITTEN[n - 1],
            REWRITTEN[n - 2] if n > 1 else None,
            _cosigned(REWRITTEN[n - 1], [VERIFIERS[i] for i in MINORITY]),
        )
        for n in range(1, LENGTH + 1)
    ],
    # the rewrite with every verifier's signature of the genuine checkpoint pasted on
    "pasted": [
        FinalityProof(REWRITTEN[n - 1], REWRITTEN[n - 2] if n > 1 else None, _cosigned(GENUINE[n - 1], VERIFIERS))
        for n in range(1, LENGTH + 1)
    ],
    # final under a signing set the operator made up one checkpoint earlier
    "made-up set": [None]
    + [
        FinalityProof(FAKE_FINAL[n - 2], FAKE_SETS[n - 2], _cosigned(FAKE_FINAL[n - 2], FAKES))
        for n in range(2, LENGTH + 1)
    ],
    "none": [None] * LENGTH,
}
GENUINE_DIGESTS = {checkpoint_digest(c) for c in GENUINE}
CLAIMS = {
    "genuine": [checkpoint_digest(c) for c in GENUINE],
    "rewritten": [checkpoint_digest(c) for c in REWRITTEN],
    "made-up set": [checkpoint_digest(GENUINE[0])] + [checkpoint_digest(c) for c in FAKE_FINAL],
}


def source(choices: dict[int, str]) -> ProofSource:
    return lambda n: PROOFS[choices.get(n, "genuine")][n - 1] if 1 <= n <= LENGTH else None


def anchored() -> CheckpointMemory:
    """A client that accepted the genuine checkpoint 1 (while the ledger was honest)."""
    memory = CheckpointMemory()
    memory.admit(KEY, 1, checkpoint_digest(GENUINE[0]), "api", lambda n: genuine_proof(n), KEY)
    return memory


answers = st.lists(
    st.tuples(
        st.integers(0, LENGTH),  # the checkpoint number an answer names (0: none)
        st.sampled_from(sorted(CLAIMS)),  # whose digest it names under that number
        # what the ledger serves as the proof of checkpoint 1, 2, ...
        st.lists(st.sampled_from(sorted(PROOFS)), min_size=LENGTH, max_size=LENGTH),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(answers)
def test_whatever_the_ledger_answers_the_client_holds_only_genuine_checkpoints(
    sequence: list[tuple[int, str, list[str]]],
) -> None:
    memory = anchored()
    for number, branch, served in sequence:
        digest = CLAIMS[branch][number - 1] if number else None
        with contextlib.suppress(LedgerHistoryError):
            memory.admit(KEY, number, digest, "dht", source(dict(enumerate(served, start=1))), KEY)
        held = memory.seen[KEY]
        assert held.digest in GENUINE_DIGESTS, f"holds a checkpoint of no genuine history: {held.number}"
        if number and branch != "genuine" and digest != held.digest and KEY not in memory.distrusted:
            assert held.number != number, "accepted an answer naming a checkpoint it does not hold"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, LENGTH), st.booleans()), max_size=12))
def test_an_honest_ledger_is_never_distrusted(sequence: list[tuple[int, bool]]) -> None:
    """An honest ledger's answers arrive in any order (a DHT snapshot lags the API; old ones are replayed), and
    some of its proofs cannot be had (the API down): such answers are refused, and nothing else happens."""
    memory, best = anchored(), 1
    for number, reachable in sequence:
        proofs: ProofSource = genuine_proof if reachable else (lambda n: None)
        digest = checkpoint_digest(GENUINE[number - 1]) if number else None
        if number < best or (number == 0 and best):
            with pytest.raises(StaleAnswerError, match=f"behind checkpoint {best}"):
                memory.admit(KEY, number, digest, "dht", proofs, KEY)
        elif reachable or number == best:
            memory.admit(KEY, number, digest, "api", proofs, KEY)
            best = number
        else:
            with pytest.raises(UnverifiedCheckpointError, match="could not be had"):
                memory.admit(KEY, number, digest, "dht", proofs, KEY)
        assert KEY not in memory.distrusted and memory.seen[KEY].number == best


def test_a_rewrite_marked_final_by_the_ledger_is_refused_even_by_a_client_with_no_history() -> None:
    memory = CheckpointMemory()
    rewritten = source(dict.fromkeys(range(1, LENGTH + 1), "rewritten"))
    with pytest.raises(LedgerHistoryError, match=r"named as final what is not: checkpoint 4 is not final: .* 20 of"):
        memory.admit(KEY, 4, CLAIMS["rewritten"][3], "dht", rewritten, KEY)
    assert KEY in memory.distrusted and KEY not in memory.seen


def test_a_made_up_signing_set_is_caught_as_two_histories_and_the_fork_is_kept(tmp_path: Path) -> None:
    memory = anchored()
    memory.admit(KEY, 3, CLAIMS["genuine"][2], "api", genuine_proof, KEY)
    with pytest.raises(LedgerHistoryError, match="two different checkpoints numbered 3: it signed two histories"):
        memory.admit(KEY, 4, CLAIMS["made-up set"][3], "dht", source({4: "made-up set"}), KEY)
    fork = memory.fork(KEY)
    assert fork is not None and fork.number == 3 and fork.ledger_key == KEY
    # kept across a restart, with the reason and the proof
    memory.save(tmp_path / "memory.json")
    again = CheckpointMemory.load(tmp_path / "memory.json")
    assert again.fork(KEY) == fork and again.distrusted == memory.distrusted
    with pytest.raises(LedgerHistoryError, match="no longer trusting it"):
        again.admit(KEY, 5, CLAIMS["genuine"][4], "api", genuine_proof, KEY)


def test_a_rolled_back_or_replayed_answer_is_refused_each_time_without_distrust() -> None:
    memory = anchored()
    memory.admit(KEY, 5, CLAIMS["genuine"][4], "api", genuine_proof, KEY)
    for _ in range(2):
        with pytest.raises(StaleAnswerError, match=r"from checkpoint 4, behind checkpoint 5 .* not used"):
            memory.admit(KEY, 4, CLAIMS["genuine"][3], "dht", genuine_proof, KEY)
    with pytest.raises(StaleAnswerError, match="from checkpoint none, behind checkpoint 5"):
        memory.admit(KEY, 0, None, "dht", genuine_proof, KEY)
    assert KEY not in memory.distrusted and memory.seen[KEY].number == 5
    memory.admit(KEY, 6, CLAIMS["genuine"][5], "api", genuine_proof, KEY)  # caught up: taken again
    assert memory.seen[KEY].number == 6


def test_a_memory_survives_a_restart_and_a_damaged_file_is_named_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "client.checkpoints.json"
    memory = anchored()
    memory.admit(KEY, 4, CLAIMS["genuine"][3], "api", genuine_proof, KEY)
    memory.save(path)
    again = CheckpointMemory.load(path)
    assert again.seen[KEY].number == 4 and again.seen[KEY].digest == CLAIMS["genuine"][3]
    with pytest.raises(LedgerHistoryError, match="behind checkpoint 4"):
        again.admit(KEY, 3, CLAIMS["genuine"][2], "dht", genuine_proof, KEY)
    assert CheckpointMemory.load(tmp_path / "absent.json").seen == {}
    path.write_text('{"seen": {"zz": 1}}')
    with pytest.raises(
        LedgerHistoryError, match=r"client\.checkpoints\.json is not a checkpoint memory .* move it away"
    ):
        CheckpointMemory.load(path)
    assert path.read_text() == '{"seen": {"zz": 1}}'


def test_a_proof_travels_as_bytes_and_a_damaged_one_counts_as_none() -> None:
    proof = genuine_proof(3)
    assert FinalityProof.from_wire(proof.to_wire()) == proof
    memory = anchored()
    damaged = proof.to_wire()[:-1] + bytes([proof.to_wire()[-1] ^ 1])
    with pytest.raises(UnverifiedCheckpointError):
        memory.admit(KEY, 2, CLAIMS["genuine"][1], "dht", lambda n: FinalityProof.from_wire(damaged), KEY)
    assert KEY not in memory.distrusted


def test_a_memory_is_written_when_it_changes_and_only_then(tmp_path: Path) -> None:
    path, memory = tmp_path / "memory.json", anchored()
    with memory.kept_in(path):
        memory.admit(KEY, 1, CLAIMS["genuine"][0], "api", genuine_proof, KEY)  # what it holds already
    assert not path.exists()
    with memory.kept_in(path), contextlib.suppress(StaleAnswerError):
        memory.admit(KEY, 0, None, "dht", genuine_proof, KEY)  # refused without distrust: nothing to keep
    assert not path.exists()
    with memory.kept_in(path), pytest.raises(LedgerHistoryError):  # saved however the block ends
        memory.admit(KEY, 2, CLAIMS["rewritten"][1], "dht", source({2: "rewritten"}), KEY)
    assert CheckpointMemory.load(path).distrusted == memory.distrusted != {}
