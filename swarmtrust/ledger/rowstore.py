"""Rows by primary key, in memory or in the database: projection logic written once, run on both.

A projection's fold reads and writes rows through a ``RowStore``. The audit folds every event into a
``MemoryRows``; the write path folds new events into ``SqlRows``, which reads only the rows it needs and
writes back only those that changed, in the same transaction. One fold, so the audit re-derives exactly
what the write path derived.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, cast

from sqlalchemy import Connection, Table
from sqlalchemy.orm import DeclarativeBase

from swarmtrust.ledger.bulk_rows import Row, insert_rows, rows_by_key, update_rows


def primary_key(model: type[DeclarativeBase]) -> str:
    (column,) = cast(Table, model.__table__).primary_key.columns
    return str(column.name)


class RowStore(ABC):
    @abstractmethod
    def get(self, model: type[DeclarativeBase], key: Any) -> Row | None:
        """A copy of the row, or None; change it and ``put`` it back."""

    @abstractmethod
    def put(self, model: type[DeclarativeBase], row: Row) -> None: ...


class MemoryRows(RowStore):
    def __init__(self) -> None:
        self.tables: dict[type[DeclarativeBase], dict[Any, Row]] = {}

    def get(self, model: type[DeclarativeBase], key: Any) -> Row | None:
        row = self.tables.get(model, {}).get(key)
        return dict(row) if row is not None else None

    def put(self, model: type[DeclarativeBase], row: Row) -> None:
        self.tables.setdefault(model, {})[row[primary_key(model)]] = dict(row)


class SqlRows(RowStore):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: dict[tuple[type[DeclarativeBase], Any], Row | None] = {}
        self._stored: set[tuple[type[DeclarativeBase], Any]] = set()  # rows that exist in the database
        self._dirty: dict[tuple[type[DeclarativeBase], Any], None] = {}  # insertion-ordered set

    def get(self, model: type[DeclarativeBase], key: Any) -> Row | None:
        slot = (model, key)
        if slot not in self._rows:
            found = next(iter(rows_by_key(self._connection, model, (key,)).values()), None)
            self._rows[slot] = found
            if found is not None:
                self._stored.add(slot)
        row = self._rows[slot]
        return dict(row) if row is not None else None

    def put(self, model: type[DeclarativeBase], row: Row) -> None:
        slot = (model, row[primary_key(model)])
        if slot not in self._rows:
            self.get(model, slot[1])
        self._rows[slot] = dict(row)
        self._dirty[slot] = None

    def flush(self) -> None:
        changed: dict[type[DeclarativeBase], list[Row]] = {}
        new: dict[type[DeclarativeBase], list[Row]] = {}
        for slot in self._dirty:
            model = slot[0]
            row = self._rows[slot]
            if row is None:
                continue
            if slot in self._stored:
                changed.setdefault(model, []).append(row)
            else:
                new.setdefault(model, []).append(row)
                self._stored.add(slot)
        for model, rows in changed.items():
            update_rows(self._connection, model, rows)
        for model, rows in new.items():
            insert_rows(self._connection, model, rows)
        self._dirty.clear()


class StagedRows(RowStore):
    """Writes kept aside until ``commit``: a fold that fails half-way leaves the rows beneath untouched, as a
    rolled-back transaction does on the write path (the audit's replay uses it per event)."""

    def __init__(self, base: RowStore) -> None:
        self._base = base
        self._staged: dict[tuple[type[DeclarativeBase], Any], Row] = {}

    def get(self, model: type[DeclarativeBase], key: Any) -> Row | None:
        row = self._staged.get((model, key))
        return dict(row) if row is not None else self._base.get(model, key)

    def put(self, model: type[DeclarativeBase], row: Row) -> None:
        self._staged[(model, row[primary_key(model)])] = dict(row)

    def commit(self) -> None:
        for (model, _), row in self._staged.items():
            self._base.put(model, row)
        self._staged.clear()
