"""Epochs on SQLite and PostgreSQL: hours of the ledger's clock, not of the servers' timestamps; leaves in ledger
order; a closed epoch never changes; inclusion proofs; an epoch too large to hash on request is refused."""

from __future__ import annotations

import pytest

from swarmtrust.ledger.epochs import (
    CLOSE_MARGIN_MS,
    EPOCH_MS,
    EpochTooLargeError,
    epoch_summary,
    receipt_proof,
    server_epochs,
)
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.merkle import merkle_root, verify_inclusion
from tests.builders import new_key, session_receipts

HOUR = 498_611


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clocked(ledger: Ledger) -> tuple[Ledger, Clock]:
    clock = Clock(HOUR * EPOCH_MS + 5_000)
    return Ledger(ledger.engine, clock=clock), clock


def test_an_epoch_is_what_the_ledger_recorded_in_an_hour_whatever_the_servers_signed(
    clocked: tuple[Ledger, Clock],
) -> None:
    ledger, clock = clocked
    server = new_key()
    key = bytes(server.verify_key).hex()
    # Signed "later" first, then "earlier": the leaves follow the ledger, not the servers' clocks.
    late = session_receipts(server, 3, timestamp_ms=(HOUR + 5) * EPOCH_MS)
    early = session_receipts(server, 2, timestamp_ms=(HOUR - 5) * EPOCH_MS, input_shape=(1, 6, 64), block_end=8)
    ledger.ingest_receipts([r.to_wire() for r in [*late, *early]])
    clock.now += EPOCH_MS  # the next hour
    after = session_receipts(server, 4)
    ledger.ingest_receipts([r.to_wire() for r in after])

    with ledger.engine.connect() as connection:
        assert server_epochs(connection, key) == [HOUR + 1, HOUR]
        summary = epoch_summary(connection, key, HOUR, clock.now)
    assert summary is not None
    assert (summary.receipts, summary.sessions) == (5, 2)
    assert summary.block_tokens == 3 * 1 * 4 + 2 * 6 * 8
    assert summary.merkle_root == merkle_root([r.digest for r in [*late, *early]]).hex()


def test_an_epoch_closes_once_the_ledgers_clock_has_passed_it_and_then_never_changes(
    clocked: tuple[Ledger, Clock],
) -> None:
    ledger, clock = clocked
    server = new_key()
    key = bytes(server.verify_key).hex()
    ledger.ingest_receipts([r.to_wire() for r in session_receipts(server, 3)])
    with ledger.engine.connect() as connection:
        open_summary = epoch_summary(connection, key, HOUR, clock.now)
        assert open_summary is not None and not open_summary.closed
        ending = (HOUR + 1) * EPOCH_MS + CLOSE_MARGIN_MS
        closed = epoch_summary(connection, key, HOUR, ending)
    assert closed is not None and closed.closed
    clock.now = ending  # a receipt signed "in" that hour, recorded now, joins the current epoch instead
    ledger.ingest_receipts([r.to_wire() for r in session_receipts(server, 2, timestamp_ms=HOUR * EPOCH_MS + 1)])
    with ledger.engine.connect() as connection:
        assert epoch_summary(connection, key, HOUR, clock.now) == closed


def test_a_proof_verifies_against_its_epochs_root_and_no_other(clocked: tuple[Ledger, Clock]) -> None:
    ledger, clock = clocked
    server = new_key()
    receipts = session_receipts(server, 6)
    ledger.ingest_receipts([r.to_wire() for r in receipts])
    clock.now += EPOCH_MS
    ledger.ingest_receipts([r.to_wire() for r in session_receipts(server, 6)])  # another epoch, another root
    with ledger.engine.connect() as connection:
        found = receipt_proof(connection, receipts[2].record.receipt_id.hex(), clock.now)
        other = epoch_summary(connection, bytes(server.verify_key).hex(), HOUR + 1, clock.now)
        assert receipt_proof(connection, "ab" * 16, clock.now) is None
    assert found is not None and other is not None
    assert found.epoch.epoch == HOUR and found.proof.index == 2 and found.proof.tree_size == 6
    assert verify_inclusion(receipts[2].digest, found.proof, bytes.fromhex(found.epoch.merkle_root))
    assert not verify_inclusion(receipts[2].digest, found.proof, bytes.fromhex(other.merkle_root))
    assert not verify_inclusion(receipts[3].digest, found.proof, bytes.fromhex(found.epoch.merkle_root))


def test_an_epoch_too_large_to_hash_on_request_is_refused_with_a_way_out(clocked: tuple[Ledger, Clock]) -> None:
    ledger, clock = clocked
    server = new_key()
    receipts = session_receipts(server, 4)
    ledger.ingest_receipts([r.to_wire() for r in receipts])
    with ledger.engine.connect() as connection, pytest.raises(EpochTooLargeError, match="/receipts"):
        epoch_summary(connection, bytes(server.verify_key).hex(), HOUR, clock.now, max_receipts=3)
    with ledger.engine.connect() as connection:
        assert epoch_summary(connection, bytes(server.verify_key).hex(), HOUR, clock.now, max_receipts=4) is not None
