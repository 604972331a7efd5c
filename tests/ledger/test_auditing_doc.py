"""Every query in docs/auditing.md runs against a real ledger and returns what the doc says it does."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Row, text

from swarmtrust.ledger.store import Ledger
from tests.builders import new_key, session_receipts

DOC = Path(__file__).resolve().parents[2] / "docs" / "auditing.md"
SERVER = new_key()
OTHER = new_key()


def documented_queries() -> dict[str, str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    queries = {}
    for block in blocks:
        name = re.match(r"-- query: ([\w-]+)\n", block)
        assert name, f"every SQL block in {DOC.name} starts with '-- query: NAME':\n{block}"
        queries[name.group(1)] = block
    return queries


def check_per_day(rows: Sequence[Row[Any]], server: str, other: str) -> None:
    per_server = {row.server_key: (row.receipts, row.sessions) for row in rows}
    assert per_server == {server: (7, 2), other: (3, 1)}


def check_history(rows: Sequence[Row[Any]], server: str, other: str) -> None:
    assert [row.seq for row in rows] == [1, 2, 3, 4, 8, 9, 10]
    assert {row.kind for row in rows} == {"receipt"}
    assert all(len(row.hash) == 64 for row in rows)


def check_broken_links(rows: Sequence[Row[Any]], server: str, other: str) -> None:
    assert rows == []


def check_sessions(rows: Sequence[Row[Any]], server: str, other: str) -> None:
    assert sorted((row.steps, row.first_step, row.last_step) for row in rows) == [(3, 1, 3), (4, 0, 3)]


def check_unlinked(rows: Sequence[Row[Any]], server: str, other: str) -> None:
    # The second session of SERVER was submitted from step 1 on: its step 1 has no predecessor here.
    assert [row.step for row in rows] == [1]


CHECKS: dict[str, Callable[[Sequence[Row[Any]], str, str], None]] = {
    "receipts-per-server-day": check_per_day,
    "server-history": check_history,
    "broken-links": check_broken_links,
    "server-sessions": check_sessions,
    "unlinked-receipts": check_unlinked,
}


def test_every_documented_query_has_a_check() -> None:
    assert set(documented_queries()) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_documented_query(ledger: Ledger, name: str) -> None:
    day = {"timestamp_ms": 1_795_000_000_000}  # one UTC day for all, so per-day counts are exact
    first = session_receipts(SERVER, 4, **day)
    other = session_receipts(OTHER, 3, **day)
    partial = session_receipts(SERVER, 4, **day)[1:]  # a session whose step 0 never reached the ledger
    ledger.ingest_receipts([r.to_wire() for r in first + other + partial])
    query = documented_queries()[name]
    with ledger.engine.connect() as connection:
        rows = connection.execute(text(query), {"server_key": SERVER.verify_key.encode().hex()}).all()
    CHECKS[name](rows, SERVER.verify_key.encode().hex(), OTHER.verify_key.encode().hex())
