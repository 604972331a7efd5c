"""Derived tables as functions of the event log: applied incrementally on write, replayed by the audit.

Each projection owns some tables. ``apply`` updates them inside the transaction that appends the
events; ``replay`` rebuilds what they must hold from the events alone and names every row that
differs. Both paths call the same row-building functions, so the audit checks the write path itself
rather than a second implementation of it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import Connection, select
from sqlalchemy.orm import DeclarativeBase

from swarmtrust.ledger.bulk_rows import Row, insert_rows, rows_by_key, update_rows
from swarmtrust.ledger.events import LoggedEvent, kinds_of
from swarmtrust.ledger.models import ReceiptRow, Server
from swarmtrust.ledger.rowstore import MemoryRows
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.signing import Signed


@dataclass(frozen=True)
class AuditProblem:
    """One thing the audit found wrong; ``seq`` is the event it concerns, when there is one."""

    seq: int | None
    where: str
    message: str


class Replay(ABC):
    """Re-derives a projection's tables from events fed in sequence order."""

    @abstractmethod
    def feed(self, event: LoggedEvent) -> None: ...

    def derived(self) -> dict[type[DeclarativeBase], dict[Any, Row]]:
        """The tables derived so far (what ``ledger.state_root`` hashes): its ``rows``, where it folds through a
        ``MemoryRows``; none otherwise."""
        rows = getattr(self, "rows", None)
        return rows.tables if isinstance(rows, MemoryRows) else {}

    @abstractmethod
    def compare(self, connection: Connection) -> list[AuditProblem]: ...


class Projection(ABC):
    """Some tables as a fold of the events that hold ``records`` (the record types it folds, which give the
    event ``kinds`` it is fed)."""

    records: ClassVar[tuple[type[WireRecord], ...]]
    kinds: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kinds = kinds_of(cls.records)

    @abstractmethod
    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        """Bring the tables up to date with ``events`` (new, in sequence order, all of ``kinds``)."""

    @abstractmethod
    def replay(self) -> Replay: ...


# --- receipts and servers ---------------------------------------------------------------------------


def receipt_row(seq: int, signed: Signed[Receipt]) -> dict[str, Any]:
    r = signed.record
    return {
        "receipt_id": r.receipt_id.hex(),
        "event_seq": seq,
        "digest": signed.digest.hex(),
        "session_id": r.session_id.hex(),
        "step": r.step,
        "server_key": r.server_key.hex(),
        "model_id": r.model_id,
        "weights_digest": r.weights_digest.hex(),
        "block_start": r.block_start,
        "block_end": r.block_end,
        "dtype": r.dtype,
        "input_digest": r.input_digest.hex(),
        "input_shape": shape_text(r.input_shape),
        "output_digest": r.output_digest.hex(),
        "output_shape": shape_text(r.output_shape),
        "prev_receipt": r.prev_receipt.hex() if r.prev_receipt else None,
        "client_nonce": r.client_nonce.hex(),
        "timestamp_ms": r.timestamp_ms,
        "day": utc_day(r.timestamp_ms),
    }


@lru_cache(maxsize=256)
def shape_text(shape: tuple[int, ...]) -> str:
    """A tensor shape as the receipts table stores it, e.g. ``1,8,4096`` (a swarm's steps share a few shapes)."""
    return ",".join(map(str, shape))


_MS_PER_DAY = 86_400_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=64)
def _day_from_index(day_index: int) -> dt.date:
    return dt.date.fromordinal(_EPOCH_ORDINAL + day_index)


def utc_day(timestamp_ms: int) -> dt.date:
    """The UTC calendar day of a millisecond timestamp (receipts of one batch share a few days: cached)."""
    return _day_from_index(timestamp_ms // _MS_PER_DAY)


def tally_receipts(tally: dict[str, Any] | None, key: str, seq_times: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """The ``servers`` row after more receipts of server ``key``: ``seq_times`` holds at least one (event seq,
    receipt timestamp_ms) pair, in sequence order."""
    first_seq, first_ms = seq_times[0]
    if tally is None:
        tally = {"public_key": key, "first_seq": first_seq, "receipt_count": 0, "last_receipt_ms": first_ms}
    return {
        **tally,
        "last_seq": seq_times[-1][0],
        "receipt_count": tally["receipt_count"] + len(seq_times),
        "last_receipt_ms": max(tally["last_receipt_ms"], *(ms for _, ms in seq_times)),
    }


class ReceiptProjection(Projection):
    """Tables ``receipts`` (one row per receipt) and ``servers`` (one row per server key seen)."""

    records = (Receipt,)

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        if not events:
            return
        rows = [receipt_row(e.seq, e.signed_as(Receipt)) for e in events]
        insert_rows(connection, ReceiptRow, rows)
        by_server: dict[str, list[tuple[int, int]]] = {}
        for row in rows:
            by_server.setdefault(row["server_key"], []).append((row["event_seq"], row["timestamp_ms"]))
        stored = rows_by_key(connection, Server, by_server)
        tallies = {key: tally_receipts(stored.get(key), key, seq_times) for key, seq_times in by_server.items()}
        insert_rows(connection, Server, [tally for key, tally in tallies.items() if key not in stored])
        update_rows(connection, Server, [tally for key, tally in tallies.items() if key in stored])

    def replay(self) -> Replay:
        return _ReceiptReplay()


class _ReceiptReplay(Replay):
    def __init__(self) -> None:
        self.receipts: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, dict[str, Any]] = {}

    def feed(self, event: LoggedEvent) -> None:
        row = receipt_row(event.seq, event.signed_as(Receipt))
        self.receipts[row["receipt_id"]] = row
        key = row["server_key"]
        self.servers[key] = tally_receipts(self.servers.get(key), key, [(event.seq, row["timestamp_ms"])])

    def compare(self, connection: Connection) -> list[AuditProblem]:
        problems = compare_table(
            connection, ReceiptRow, "receipt_id", self.receipts, seq_of=lambda row: row["event_seq"]
        )
        problems += compare_table(connection, Server, "public_key", self.servers, seq_of=lambda row: row["first_seq"])
        return problems


def compare_table(
    connection: Connection,
    table: type[Any],
    key_column: str,
    expected: dict[str, dict[str, Any]],
    *,
    seq_of: Any,
) -> list[AuditProblem]:
    """Every row of ``table`` against the rows the events imply, matched by ``key_column``."""
    name = table.__tablename__
    problems: list[AuditProblem] = []
    seen: set[str] = set()
    for row in connection.execute(select(table)).mappings():
        key = row[key_column]
        seen.add(key)
        want = expected.get(key)
        if want is None:
            claimed = _maybe_int(seq_of(row))
            problems.append(AuditProblem(claimed, f"{name}[{key}]", "row is not derived from any event"))
            continue
        changed = sorted(col for col, value in want.items() if _normalise(row[col]) != _normalise(value))
        if changed:
            problems.append(
                AuditProblem(seq_of(want), f"{name}[{key}]", f"row differs from the events in {', '.join(changed)}")
            )
    for key, want in expected.items():
        if key not in seen:
            problems.append(AuditProblem(seq_of(want), f"{name}[{key}]", "row is missing"))
    return problems


def _normalise(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _maybe_int(value: Any) -> int | None:
    return value if isinstance(value, int) else None
