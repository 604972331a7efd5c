"""A client refuses a ledger's answer that does not extend the history it saw: an earlier checkpoint, none after
one, or another digest under a number seen; and then distrusts that ledger key. Properties over any sequence of
answers a ledger (or anything replaying old snapshots) could give."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.checkpoint_memory import CheckpointMemory, LedgerHistoryError

KEY, OTHER = b"\x01" * 32, b"\x02" * 32


def digest(number: int, branch: int = 0) -> bytes:
    return bytes([number % 256, branch]) * 16


answers = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 1)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(answers)
def test_an_answer_is_admitted_exactly_when_it_extends_what_was_seen(sequence: list[tuple[int, int]]) -> None:
    memory = CheckpointMemory()
    best: tuple[int, bytes] | None = None
    broken = False
    for number, branch in sequence:
        value = digest(number, branch) if number else None
        extends = not broken and (
            best is None or (number > best[0] and value is not None) or (number == best[0] and value == best[1])
        )
        if extends:
            memory.admit(KEY, number, value, "api")
            if value is not None and (best is None or number > best[0]):
                best = (number, value)
        else:
            with pytest.raises(LedgerHistoryError):
                memory.admit(KEY, number, value, "dht")
            broken = True  # once caught, the key is never trusted again
    assert (KEY in memory.distrusted) == broken
    memory.admit(OTHER, 1, digest(1), "api")  # another ledger key is judged on its own


def test_the_refusal_says_what_happened() -> None:
    memory = CheckpointMemory()
    memory.admit(KEY, 3, digest(3), "api")
    with pytest.raises(LedgerHistoryError, match="two different checkpoints numbered 3"):
        memory.admit(KEY, 3, digest(3, 1), "dht")
    with pytest.raises(LedgerHistoryError, match="no longer trusting it"):
        memory.admit(KEY, 9, digest(9), "api")
    rolled = CheckpointMemory()
    rolled.admit(KEY, 5, digest(5), "api")
    with pytest.raises(LedgerHistoryError, match="behind checkpoint 5"):
        rolled.admit(KEY, 4, digest(4), "dht")
