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

KEYS_PER_QUERY = 1_000  # bound keys per IN (...), well under every database's parameter limit


def insert_rows(connection: Connection, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows``, each with every column of the table, in one ``executemany``."""
    if rows:
        plan = _plan(model, connection.dialect)
        connection.exec_driver_sql(plan.insert_sql, plan.parameters(rows, plan.columns))


def update_rows(connection: Connection, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE the rows with the primary keys of ``rows`` (each with every column) in one ``executemany``;
    a LookupError if any of them is not in the table (the caller's idea of what is stored is wrong)."""
    if rows:
        plan = _plan(model, connection.dialect)
        updated = connection.exec_driver_sql(plan.update_sql, plan.parameters(rows, (*plan.values, plan.key)))
        if connection.dialect.supports_sane_multi_rowcount and updated.rowcount != len(rows):
            raise LookupError(
                f"{len(rows) - updated.rowcount} of {len(rows)} {plan.table} rows to update are not stored"
            )


def rows_by_key(connection: Connection, model: type[DeclarativeBase], keys: Collection[Any]) -> dict[Any, Row]:
    """The stored rows whose primary key is in ``keys``, by key.

    Through SQLAlchemy, which converts each column's values as the database driver returns them; on the
    write path it runs once per batch, not per row."""
    table = cast(Table, model.__table__)
    (key_column,) = table.primary_key.columns
    wanted = list(keys)
    found: dict[Any, Row] = {}
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        query = select(table).where(key_column.in_(wanted[start : start + KEYS_PER_QUERY]))
        for row in connection.execute(query).mappings():
            found[row[key_column.name]] = dict(row)
    return found


@dataclass(frozen=True)
class _TablePlan:
    table: str
    columns: tuple[str, ...]
    column_set: frozenset[str]  # what every row's keys must be
    key: str  # the primary key column
    values: tuple[str, ...]  # the other columns
    insert_sql: str
    update_sql: str
    bind: dict[str, Any]  # column -> SQLAlchemy bind processor, where this dialect needs one

    def parameters(self, rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        if rows[0].keys() != self.column_set:  # one row checked: a batch comes from one row builder
            missing, unknown = sorted(self.column_set - rows[0].keys()), sorted(rows[0].keys() - self.column_set)
            raise ValueError(
                f"a {self.table} row needs exactly the table's columns: missing {missing}, unknown {unknown}"
            )
        pick = itemgetter(*columns)
        params = [pick(row) for row in rows] if len(columns) > 1 else [(pick(row),) for row in rows]
        conversions: list[tuple[int, Any, dict[tuple[type, Any], Any]]] = [
            (i, self.bind[c], {}) for i, c in enumerate(columns) if c in self.bind
        ]
        if not conversions:
            return params
        # Each distinct value is converted once (a batch of receipts spans a day or two, not a thousand days),
        # keyed by type too, as True == 1: equal values of one type convert alike for every column type the
        # ledger has (dates, booleans, floats).
        converted = []
        for values in params:
            row = list(values)
            for i, processor, done in conversions:
                key = (type(row[i]), row[i])
                if key not in done:
                    done[key] = processor(row[i])
                row[i] = done[key]
            converted.append(tuple(row))
        return converted


_PLANS: dict[tuple[Table, type[Dialect]], _TablePlan] = {}


def _plan(model: type[DeclarativeBase], dialect: Dialect) -> _TablePlan:
    slot = (cast(Table, model.__table__), type(dialect))
    plan = _PLANS.get(slot)
    if plan is None:
        plan = _PLANS[slot] = _build_plan(slot[0], dialect)
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
        table=table.name,
        columns=columns,
        column_set=frozenset(columns),
        key=key,
        values=values,
        insert_sql=f"INSERT INTO {name} ({listed}) VALUES ({', '.join([marker] * len(columns))})",
        update_sql=f"UPDATE {name} SET {assignments} WHERE {quote(key)} = {marker}",
        bind=bind,
    )
