"""Shared fixtures: ledgers on SQLite and on a real PostgreSQL server, with the same tests for both.

PostgreSQL tests read ``SWARMTRUST_TEST_POSTGRES_URL`` (a role allowed to CREATE DATABASE, e.g.
``postgresql+psycopg://swarmtrust:swarmtrust@127.0.0.1:5432/postgres``); each test gets a fresh
database. Without it they are skipped, with that reason; with ``SWARMTRUST_REQUIRE_REAL=1`` (as CI
sets) a missing real component fails the run instead.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.db import create_ledger_engine
from ledger.migrate import upgrade
from ledger.store import Ledger

POSTGRES_ENV = "SWARMTRUST_TEST_POSTGRES_URL"
REQUIRE_REAL_ENV = "SWARMTRUST_REQUIRE_REAL"


def missing_real_component(reason: str) -> None:
    """Skip, or fail when the run requires every real component (CI)."""
    if os.environ.get(REQUIRE_REAL_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_REAL_ENV}=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        missing_real_component(
            f"PostgreSQL tests need {POSTGRES_ENV}=postgresql+psycopg://USER:PASS@127.0.0.1:5432/postgres "
            "(a role with CREATEDB); see README 'Running the tests'"
        )
    name = f"swarmtrust_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:
        admin.dispose()
        missing_real_component(f"cannot create a database through {POSTGRES_ENV}: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: Engine, name: str, attempts: int = 10) -> None:
    """DROP ... WITH (FORCE) ends our own leftover connections, but fails while an autovacuum worker
    (owned by the superuser) happens to be in the fresh database: wait for it to finish and retry."""
    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """An empty database: a SQLite file, then (second parameter) a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    """A ledger at the current schema on each database."""
    engine = create_ledger_engine(db_url)
    upgrade(engine)
    engine.dispose()
    with Ledger.open(db_url) as opened:
        yield opened
