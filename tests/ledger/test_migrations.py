from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.migrate import current_revision, downgrade, head_revision, upgrade
from swarmtrust.ledger.models import Base
from swarmtrust.ledger.settings import LedgerSettings, default_db_url
from swarmtrust.ledger.store import Ledger
from tests.builders import new_key, session_receipts

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "events", "chain_head", "servers", "receipts", "alembic_version",
    "challenges", "assignments", "verdicts", "disputes", "verifiers", "submitters",
    "evidence", "verifier_presence", "seen_requests", "reputations", "reputation_cohort",
    "server_directory", "server_presence", "admin_actions", "audit_runs",
    "accounts", "movements", "escrow_holds", "market_challenges", "prices", "market_records",
    "audit_seeds", "audit_draws", "convictions", "consensus_policy",
    "models", "model_registrations", "tolerances", "checkpoints", "checkpoint_signatures",
}  # fmt: skip
VIEWS = {"receipts_per_server_day", "server_event_history"}


def test_upgrade_creates_the_schema_and_is_idempotent(db_url: str) -> None:
    engine = create_ledger_engine(db_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == TABLES
        assert set(inspector.get_view_names()) == VIEWS
    finally:
        engine.dispose()


def test_the_models_and_the_migrations_agree(db_url: str) -> None:
    engine = create_ledger_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = create_ledger_engine(db_url)
    try:
        upgrade(engine)
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_plain_alembic_upgrade_head_works(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={db_url}", "upgrade", "head"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with Ledger.open(db_url) as ledger:  # opens only at the current revision
        key = new_key()
        assert [r.status for r in ledger.ingest_receipts([r.to_wire() for r in session_receipts(key, 2)])] == [
            "accepted",
            "accepted",
        ]


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path}/nested/dir/ledger.db")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert (tmp_path / "nested" / "dir").is_dir()
    finally:
        engine.dispose()


def test_the_default_database_is_sqlite_in_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("SWARMTRUST_DB_URL", raising=False)
    assert default_db_url() == f"sqlite:///{tmp_path}/swarmtrust/ledger.db"
    assert LedgerSettings().resolved_db_url() == default_db_url()
    monkeypatch.setenv("SWARMTRUST_DB_URL", "sqlite:///elsewhere.db")
    assert LedgerSettings().resolved_db_url() == "sqlite:///elsewhere.db"
    assert LedgerSettings().resolved_db_url("sqlite:///flag.db") == "sqlite:///flag.db", "flags win"
    assert os.environ["XDG_DATA_HOME"] == str(tmp_path)
