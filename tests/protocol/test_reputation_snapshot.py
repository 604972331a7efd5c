"""The ledger-signed DHT snapshot carries what the bond rule needs (bond and price), for as many servers as it
may hold, and a client routing from it judges bonds exactly as from the REST answer."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.reputation import reputation_from_dht
from swarmtrust.node.dht import from_dht_value, to_dht_value
from swarmtrust.protocol.bond_rule import required_bond, session_block_tokens
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.market_records import MAX_PRICE
from swarmtrust.protocol.reputation_snapshot import (
    MAX_ENTRIES,
    ReputationSnapshot,
    SnapshotEntry,
    pack_entries,
    pack_newcomer,
    snapshot_key,
)
from swarmtrust.protocol.signing import sign_record
from tests.builders import new_key

LEDGER = new_key()


def snapshot(entries: dict[str, SnapshotEntry], now: int) -> ReputationSnapshot:
    return ReputationSnapshot(
        ledger_key=bytes(LEDGER.verify_key),
        model_id="tiny",
        entries=pack_entries(entries),
        newcomer=pack_newcomer(SnapshotEntry("newcomer", 1.6, 0.4, 1.0)),
        made_ms=now,
        expires_ms=now + 60_000,
        checkpoint_number=7,
        checkpoint=b"\x07" * 32,
    )


@settings(max_examples=200, deadline=None)
@given(bond=st.integers(0, 2**64 - 1), price=st.integers(0, MAX_PRICE), bonded=st.booleans())
def test_bond_and_price_round_trip_through_the_signed_snapshot(bond: int, price: int, bonded: bool) -> None:
    key = os.urandom(32).hex()
    entry = SnapshotEntry("trusted", 40.0, 1.5, 0.05, bonded=bonded, bond=bond, price=price)
    now = time.time_ns() // 1_000_000
    kind, signed = from_dht_value(to_dht_value("reputation", sign_record(snapshot({key: entry}, now), LEDGER)))
    assert kind == "reputation" and signed.signer == bytes(LEDGER.verify_key)
    assert signed.record.servers() == {key: entry}


def test_a_full_snapshot_fits_its_size_limit() -> None:
    entries = {
        os.urandom(32).hex(): SnapshotEntry("trusted", 1e9, 1e9, 0.05, True, 2**64 - 1, MAX_PRICE)
        for _ in range(MAX_ENTRIES)
    }
    value = to_dht_value("reputation", sign_record(snapshot(entries, time.time_ns() // 1_000_000), LEDGER))
    _, signed = from_dht_value(value)  # decoding checks the encoded size against MAX_BYTES
    assert len(signed.record.servers()) == MAX_ENTRIES


class FakeDht:
    """The one DHT read the client makes: the latest value under the snapshot key, by subkey."""

    def __init__(self, value: bytes) -> None:
        self.value = value

    def get(self, key: str, latest: bool) -> object:
        assert key == snapshot_key("tiny") and latest
        item = type("Item", (), {"value": self.value})()
        return type("Entries", (), {"value": {bytes(LEDGER.verify_key).hex(): item}})()


def test_a_client_reads_bond_and_price_from_the_snapshot() -> None:
    needed = required_bond(1_000, session_block_tokens(4))
    assert needed is not None
    key = os.urandom(32).hex()
    entry = SnapshotEntry("trusted", 40.0, 1.5, 0.05, bonded=True, bond=needed - 1, price=1_000)
    now = time.time_ns() // 1_000_000
    dht = FakeDht(to_dht_value("reputation", sign_record(snapshot({key: entry}, now), LEDGER)))
    book = reputation_from_dht(dht, "tiny", bytes(LEDGER.verify_key), now)
    assert book is not None and book.source == "dht"
    trust = book.of(key)
    assert (trust.bond, trust.price) == (needed - 1, 1_000), "the client judges by bond and price, not the flag"


def test_a_checkpoint_number_and_digest_go_together() -> None:
    good = snapshot({}, 1_000)
    assert (good.checkpoint_number, good.checkpoint) == (7, b"\x07" * 32)
    assert ReputationSnapshot.decode(good.encode()) == good
    for number, digest in ((0, b"\x07" * 32), (3, None)):
        with pytest.raises(WireFormatError, match="checkpoint digest goes with"):
            good.replace(checkpoint_number=number, checkpoint=digest)
