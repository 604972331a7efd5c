"""The service proposes a checkpoint every interval and also as each epoch closes, so that a checkpoint covers
every closed epoch whole; properties over any moment and interval."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swarmtrust.api.checkpointing import next_wait
from swarmtrust.ledger.epochs import CLOSE_MARGIN_MS, EPOCH_MS


@given(st.integers(0, 2**45), st.floats(0.01, 10 * EPOCH_MS / 1000))
def test_the_next_proposal_comes_within_the_interval_and_no_later_than_the_next_epoch_close(
    now: int, every: float
) -> None:
    wait = next_wait(now, every)
    assert 0 < wait <= every
    next_close = ((now - CLOSE_MARGIN_MS) // EPOCH_MS + 1) * EPOCH_MS + CLOSE_MARGIN_MS  # first close after now
    assert now + wait * 1000 <= next_close + 1e-6
    if wait < every:  # sooner than the interval only to land on the close itself
        assert abs(now + wait * 1000 - next_close) < 1e-3
