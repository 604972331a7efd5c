from __future__ import annotations

import threading

import msgpack
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.errors import BatchTooLargeError, RecordRejectedError, SchemaNotReadyError
from swarmtrust.ledger.ingest import MAX_BATCH
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.receipts import Receipt
from tests.builders import new_key, resign, session_receipts, signed_receipt
from tests.ledger.tampering import scalar

SERVER = new_key()
OTHER = new_key()


def counts(ledger: Ledger) -> tuple[object, object, object]:
    return (
        scalar(ledger, "SELECT COUNT(*) FROM events"),
        scalar(ledger, "SELECT COUNT(*) FROM receipts"),
        scalar(ledger, "SELECT COUNT(*) FROM servers"),
    )


def test_a_batch_is_appended_and_derived(ledger: Ledger) -> None:
    receipts = session_receipts(SERVER, 5) + session_receipts(OTHER, 3)
    results = ledger.ingest_receipts([r.to_wire() for r in receipts])
    assert [r.status for r in results] == ["accepted"] * 8
    assert [r.seq for r in results] == list(range(1, 9))
    assert counts(ledger) == (8, 8, 2)
    assert (
        scalar(
            ledger,
            "SELECT receipt_count FROM servers WHERE public_key = :k",
            k=SERVER.verify_key.encode().hex(),
        )
        == 5
    )
    stored = scalar(ledger, "SELECT digest FROM receipts WHERE event_seq = 3")
    assert stored == receipts[2].digest.hex()
    payload = scalar(ledger, "SELECT payload FROM events WHERE seq = 3")
    assert bytes(payload) == receipts[2].body  # type: ignore[arg-type]


def test_each_servers_tally_follows_its_receipts_across_batches(ledger: Ledger) -> None:
    """First and last event, count, and the latest receipt time even when receipts arrive out of time order."""
    third = new_key()
    late, early = signed_receipt(SERVER, timestamp_ms=9_000), signed_receipt(SERVER, step=0, timestamp_ms=1_000)
    batches = [
        [late, *session_receipts(OTHER, 2)],  # seq 1-3
        [early, signed_receipt(third, timestamp_ms=5_000)],  # seq 4-5
    ]
    for batch in batches:
        ledger.ingest_receipts([r.to_wire() for r in batch])
    with ledger.engine.connect() as connection:
        query = text("SELECT public_key, first_seq, last_seq, receipt_count, last_receipt_ms FROM servers")
        rows = {row[0]: tuple(row[1:]) for row in connection.execute(query)}
    other_times = [r.record.timestamp_ms for r in batches[0][1:]]
    assert rows == {
        SERVER.verify_key.encode().hex(): (1, 4, 2, 9_000),
        OTHER.verify_key.encode().hex(): (2, 3, 2, max(other_times)),
        third.verify_key.encode().hex(): (5, 5, 1, 5_000),
    }
    assert ledger.audit().ok


def test_the_same_receipt_twice_is_one_row_and_the_retry_succeeds(ledger: Ledger) -> None:
    receipts = session_receipts(SERVER, 4)
    wires = [r.to_wire() for r in receipts]
    first = ledger.ingest_receipts(wires)
    retry = ledger.ingest_receipts(wires)
    assert [r.status for r in retry] == ["duplicate"] * 4
    assert [r.seq for r in retry] == [r.seq for r in first], "a retry learns where its receipt already is"
    assert counts(ledger) == (4, 4, 1)
    assert ledger.ingest_receipt(wires[0]).status == "duplicate"
    again_in_one_batch = ledger.ingest_receipts([signed_receipt(SERVER).to_wire()] * 3)
    assert [r.status for r in again_in_one_batch] == ["accepted", "duplicate", "duplicate"]
    assert len({r.seq for r in again_in_one_batch}) == 1
    assert counts(ledger) == (5, 5, 1)


def test_the_same_receipt_id_with_other_content_is_a_conflict(ledger: Ledger) -> None:
    original = signed_receipt(SERVER, step=2)
    ledger.ingest_receipt(original.to_wire())
    equivocation = resign(original.record, SERVER, output_digest=bytes(32))
    assert equivocation.record.receipt_id == original.record.receipt_id
    with pytest.raises(RecordRejectedError) as caught:
        ledger.ingest_receipt(equivocation.to_wire())
    assert caught.value.reason == "conflict"
    assert counts(ledger) == (1, 1, 1)
    assert scalar(ledger, "SELECT digest FROM receipts") == original.digest.hex(), "the first version stays"


def _bad_items() -> dict[str, bytes]:
    good = signed_receipt(SERVER)
    flipped = bytearray(good.to_wire())
    flipped[-5] ^= 0x10
    future = msgpack.unpackb(good.body, raw=False)
    future[0] = 2
    future_body = pack(future)
    return {
        "bad_signature": bytes(flipped),
        "malformed": b"\x92\xc4\x03abc",
        "too_large": pack([b"x" * 50_000, bytes(64)]),
        "unsupported_version": pack([future_body, SERVER.sign(Receipt.DOMAIN + future_body).signature]),
        "wrong key": _signed_by_other_key(),
    }


def _signed_by_other_key() -> bytes:
    honest = signed_receipt(SERVER)
    return pack([honest.body, OTHER.sign(Receipt.DOMAIN + honest.body).signature])


def test_bad_items_are_rejected_with_reasons_and_spoil_nothing_else(ledger: Ledger) -> None:
    good = session_receipts(SERVER, 3)
    bad = _bad_items()
    batch = [good[0].to_wire(), *bad.values(), good[1].to_wire(), good[2].to_wire()]
    results = ledger.ingest_receipts(batch)
    statuses = [(r.status, r.reason) for r in results]
    assert statuses == [
        ("accepted", None),
        ("rejected", "bad_signature"),
        ("rejected", "malformed"),
        ("rejected", "too_large"),
        ("rejected", "unsupported_version"),
        ("rejected", "bad_signature"),
        ("accepted", None),
        ("accepted", None),
    ]
    assert all(r.message for r in results if r.status == "rejected")
    assert counts(ledger) == (3, 3, 1)


@pytest.mark.parametrize("reason", ["bad_signature", "malformed", "too_large", "unsupported_version"])
def test_a_single_bad_receipt_raises_and_writes_nothing(ledger: Ledger, reason: str) -> None:
    with pytest.raises(RecordRejectedError) as caught:
        ledger.ingest_receipt(_bad_items()[reason])
    assert caught.value.reason == reason
    assert counts(ledger) == (0, 0, 0)


def test_an_oversized_batch_is_refused_whole(ledger: Ledger) -> None:
    wire = signed_receipt(SERVER).to_wire()
    with pytest.raises(BatchTooLargeError, match="split it"):
        ledger.ingest_receipts([wire] * (MAX_BATCH + 1))
    assert counts(ledger) == (0, 0, 0)


def test_the_event_log_refuses_updates_and_deletes(ledger: Ledger) -> None:
    ledger.ingest_receipts([r.to_wire() for r in session_receipts(SERVER, 2)])
    for statement in ("UPDATE events SET kind = 'x' WHERE seq = 1", "DELETE FROM events WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as connection:
            connection.execute(text(statement))
    assert counts(ledger) == (2, 2, 1)


def test_concurrent_writers_keep_one_unbroken_chain(ledger: Ledger) -> None:
    keys = [new_key() for _ in range(4)]
    batches = [[r.to_wire() for r in session_receipts(key, 25)] for key in keys]
    errors: list[BaseException] = []

    def submit(batch: list[bytes]) -> None:
        try:
            for start in range(0, len(batch), 5):
                ledger.ingest_receipts(batch[start : start + 5])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert counts(ledger) == (100, 100, 4)
    report = ledger.audit()
    assert report.ok, report.problems
    assert report.head_seq == 100


def test_a_database_without_the_schema_says_how_to_fix_it(db_url: str) -> None:
    with pytest.raises(SchemaNotReadyError, match="swarmtrust ledger upgrade"):
        Ledger.open(db_url)
    engine = create_ledger_engine(db_url)
    try:
        ledger = Ledger(engine)
        with pytest.raises(SchemaNotReadyError, match="swarmtrust ledger upgrade"):
            ledger.ingest_receipts([signed_receipt(SERVER).to_wire()])
    finally:
        engine.dispose()
