"""Whole rows written and read with plain statements match what SQLAlchemy writes and reads, on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from swarmtrust.ledger.bulk_rows import insert_rows, rows_by_key, update_rows
from swarmtrust.ledger.db import write_transaction
from swarmtrust.ledger.models import AuditRun, ReceiptRow, ReputationRow, Server
from swarmtrust.ledger.store import Ledger
from tests.builders import new_key, signed_receipt


def server(number: int, **changes: Any) -> dict[str, Any]:
    row = {
        "public_key": f"{number:064x}",
        "first_seq": number,
        "last_seq": number + 1,
        "receipt_count": 2,
        "last_receipt_ms": 1_700_000_000_000 + number,
    }
    return row | changes


def test_rows_written_here_read_back_through_sqlalchemy_and_the_other_way(ledger: Ledger) -> None:
    with write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [server(1), server(2)])
        connection.execute(insert(Server), [server(3)])
    with ledger.engine.connect() as connection:
        through_sqlalchemy = {r["public_key"]: dict(r) for r in connection.execute(select(Server)).mappings()}
        here = rows_by_key(connection, Server, [server(n)["public_key"] for n in (1, 2, 3)])
    assert here == through_sqlalchemy == {server(n)["public_key"]: server(n) for n in (1, 2, 3)}


def test_typed_columns_are_converted_both_ways(ledger: Ledger) -> None:
    """Booleans (audit_runs.ok) and dates (receipts.day) as each database stores them."""
    run = {"id": 7, "ran_ms": 1, "head_seq": 3, "head_hash": "ab" * 32, "events_checked": 3, "ok": True, "problems": 0}
    run["first_bad_seq"] = None
    with write_transaction(ledger.engine) as connection:
        insert_rows(connection, AuditRun, [run])
        update_rows(connection, AuditRun, [run | {"ok": False}])
    receipt = signed_receipt(new_key(), timestamp_ms=1_764_000_000_000)
    ledger.ingest_receipt(receipt.to_wire())
    rid = receipt.record.receipt_id.hex()
    with ledger.engine.connect() as connection:
        stored_run = dict(connection.execute(select(AuditRun)).mappings().one())
        stored_receipt = dict(connection.execute(select(ReceiptRow)).mappings().one())
        here_run = rows_by_key(connection, AuditRun, [7])[7]
        here_receipt = rows_by_key(connection, ReceiptRow, [rid])[rid]
    assert here_run == stored_run == run | {"ok": False}
    assert here_run["ok"] is False
    assert here_receipt == stored_receipt
    assert here_receipt["day"] == dt.date(2025, 11, 24)


def test_floats_and_booleans_of_a_derived_table_round_trip(ledger: Ledger) -> None:
    floats = ("prior_alpha", "prior_beta", "long_honest", "long_dishonest", "short_honest", "short_dishonest")
    counts = ("updated_ms", "checks", "passes", "fails", "consecutive_passes", "first_seq", "last_seq")
    row = {"server_key": "cd" * 32, "model_id": "tiny", "quarantined": False}
    row |= {name: 0.1 * (i + 1) for i, name in enumerate(floats)} | {name: i for i, name in enumerate(counts)}
    with write_transaction(ledger.engine) as connection:
        insert_rows(connection, ReputationRow, [row])
        update_rows(connection, ReputationRow, [row | {"short_honest": 2.5e-7, "quarantined": True}])
    with ledger.engine.connect() as connection:
        stored = dict(connection.execute(select(ReputationRow)).mappings().one())
        assert rows_by_key(connection, ReputationRow, [row["server_key"]]) == {row["server_key"]: stored}
    assert stored == row | {"short_honest": 2.5e-7, "quarantined": True}
    assert stored["quarantined"] is True and type(stored["prior_alpha"]) is float


def test_updates_change_only_the_rows_named(ledger: Ledger) -> None:
    with write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [server(n) for n in range(5)])
        update_rows(connection, Server, [server(1, receipt_count=9), server(3, last_seq=40)])
    with ledger.engine.connect() as connection:
        stored = rows_by_key(connection, Server, [server(n)["public_key"] for n in range(5)])
    assert stored == {
        row["public_key"]: row
        for row in [server(0), server(1, receipt_count=9), server(2), server(3, last_seq=40), server(4)]
    }


def test_updating_a_row_that_is_not_stored_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(LookupError, match="1 of 2 servers rows"), write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [server(1)])
        update_rows(connection, Server, [server(1, receipt_count=5), server(2)])
    with ledger.engine.connect() as connection:
        assert rows_by_key(connection, Server, [server(1)["public_key"]]) == {}  # rolled back


def test_a_row_without_every_column_is_refused_by_name(ledger: Ledger) -> None:
    partial = {k: v for k, v in server(1).items() if k != "receipt_count"}
    refused = pytest.raises(ValueError, match=r"missing \['receipt_count'\], unknown \['typo'\]")
    with refused, write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [partial | {"typo": 1}])


def test_many_keys_are_looked_up_in_chunks_and_missing_ones_left_out(ledger: Ledger) -> None:
    with write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [server(n) for n in range(0, 2500, 2)])
    with ledger.engine.connect() as connection:
        found = rows_by_key(connection, Server, [server(n)["public_key"] for n in range(2500)])
        assert rows_by_key(connection, Server, []) == {}
    assert sorted(found) == [server(n)["public_key"] for n in range(0, 2500, 2)]


def test_a_failed_insert_writes_nothing_of_its_batch(ledger: Ledger) -> None:
    with pytest.raises(IntegrityError), write_transaction(ledger.engine) as connection:
        insert_rows(connection, Server, [server(1), server(2), server(1)])  # the same key twice
    with ledger.engine.connect() as connection:
        assert rows_by_key(connection, Server, [server(1)["public_key"], server(2)["public_key"]]) == {}
