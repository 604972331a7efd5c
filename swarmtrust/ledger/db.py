"""Engines and transactions for SQLite and PostgreSQL, set up for a ledger that never loses a write.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before it returns) and write
transactions that take the write lock at ``BEGIN IMMEDIATE``, so two writers never both read the same
chain head. PostgreSQL writers serialise on a row lock of ``chain_head`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def create_ledger_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite files, creates the parent directory and turns on WAL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Leave transaction control to SQLAlchemy's BEGIN below instead of pysqlite's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: random-keyed indexes touch many pages
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get("ledger_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may append events: committed on success, rolled back on any exception."""
    with engine.connect() as raw:
        connection = raw.execution_options(ledger_write=True)
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read-only view (one snapshot on SQLite WAL and PostgreSQL REPEATABLE READ)."""
    with engine.connect() as raw:
        connection = raw if is_sqlite(engine) else raw.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection
