"""Whole rows written to a table with plain DBAPI statements, built once per table and dialect.

The ledger's write path moves thousands of rows a second, and SQLAlchemy Core spends more time
building each statement and each row's parameters than the database spends storing the row (about
0.1 ms per UPDATE, against a few µs here). Rows are dicts keyed by column name; only columns whose
type needs a conversion on this dialect (e.g. ``Date`` on SQLite) pass through SQLAlchemy's bind
processor. Reading rows back (``rows_by_key``) goes through SQLAlchemy, once per batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Dialect, LargeBinary, Table, select
from sqlalchemy.orm import DeclarativeBase

Row = dict[str, Any]

_KEYS_PER_QUERY = 1_000  # bound keys per IN (...), well under every database's parameter limit


def insert_rows(connection: Connection, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (every column) in one ``executemany``."""
    if rows:
        plan = _plan(model, connection.dialect)
        connection.exec_driver_sql(plan.insert_sql, plan.parameters(rows, plan.columns))


def update_rows(connection: Connection, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE every column of ``rows`` (every column given), matched by primary key, in one ``executemany``."""
    if rows:
        plan = _plan(model, connection.dialect)
        connection.exec_driver_sql(plan.update_sql, plan.parameters(rows, (*plan.values, plan.key)))


def rows_by_key(connection: Connection, model: type[DeclarativeBase], keys: Collection[Any]) -> dict[Any, Row]:
    """The stored rows whose primary key is in ``keys``, by key.

    Through SQLAlchemy, which converts each column's values as the database driver returns them; on the
    write path it runs once per batch, not per row."""
    table = cast(Table, model.__table__)
    (key_column,) = table.primary_key.columns
    wanted = list(keys)
    found: dict[Any, Row] = {}
    for start in range(0, len(wanted), _KEYS_PER_QUERY):
        query = select(table).where(key_column.in_(wanted[start : start + _KEYS_PER_QUERY]))
        for row in connection.execute(query).mappings():
            found[row[key_column.name]] = dict(row)
    return found


@dataclass(frozen=True)
class _TablePlan:
    columns: tuple[str, ...]
    key: str  # the primary key column
    values: tuple[str, ...]  # the other columns
    insert_sql: str
    update_sql: str
    bind: dict[str, Any]  # column -> SQLAlchemy bind processor, where this dialect needs one

    def parameters(self, rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        pick = itemgetter(*columns)
        params = [pick(row) for row in rows] if len(columns) > 1 else [(pick(row),) for row in rows]
        for i, processor in [(i, self.bind[c]) for i, c in enumerate(columns) if c in self.bind]:
            # Each distinct value converted once: a batch of receipts spans a day or two, not a thousand.
            converted = {value: processor(value) for value in {values[i] for values in params}}
            params = [(*values[:i], converted[values[i]], *values[i + 1 :]) for values in params]
        return params


_PLANS: dict[tuple[str, str], _TablePlan] = {}


def _plan(model: type[DeclarativeBase], dialect: Dialect) -> _TablePlan:
    table = cast(Table, model.__table__)
    plan = _PLANS.get((table.name, dialect.name))
    if plan is None:
        plan = _PLANS[(table.name, dialect.name)] = _build_plan(table, dialect)
    return plan


def _build_plan(table: Table, dialect: Dialect) -> _TablePlan:
    (key,) = (column.name for column in table.primary_key.columns)
    columns = tuple(column.name for column in table.columns)
    values = tuple(c for c in columns if c != key)
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    name, listed = quote(table.name), ", ".join(map(quote, columns))
    assignments = ", ".join(f"{quote(c)} = {marker}" for c in values)
    # Binary columns are left out: sqlite3 and psycopg both take ``bytes`` as they are, and the
    # processor only wraps each value (a few microseconds per row on the ingest path).
    typed = [(c.name, c.type.dialect_impl(dialect)) for c in table.columns if not isinstance(c.type, LargeBinary)]
    bind = {name: p for name, impl in typed if (p := impl.bind_processor(dialect)) is not None}
    return _TablePlan(
        columns=columns,
        key=key,
        values=values,
        insert_sql=f"INSERT INTO {name} ({listed}) VALUES ({', '.join([marker] * len(columns))})",
        update_sql=f"UPDATE {name} SET {assignments} WHERE {quote(key)} = {marker}",
        bind=bind,
    )
