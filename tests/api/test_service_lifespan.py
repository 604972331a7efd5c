"""The service's background work belongs to the application: it starts when the app starts (after the schema
is found current) and stops when it shuts down, whether the app runs under ``api serve`` or in a test."""

from __future__ import annotations

import threading
from pathlib import Path

import nacl.signing
import pytest
from fastapi.testclient import TestClient

from swarmtrust.api.app import create_app
from swarmtrust.api.service import BackgroundTask
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.errors import SchemaNotReadyError
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.spotchecks import SpotCheckPolicy


class Work:
    """A background task that says when it started and when it saw the stop signal."""

    def __init__(self) -> None:
        self.started, self.stopped = threading.Event(), threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.started.set()
        stop.wait()
        self.stopped.set()


def app_with(work: Work, database: Path, *, migrated: bool = True) -> TestClient:
    engine = create_ledger_engine(f"sqlite:///{database}")
    if migrated:
        upgrade(engine)
    key = nacl.signing.SigningKey.generate()
    app = create_app(
        engine, key, SpotCheckPolicy(), max_request_bytes=1 << 20, background=[BackgroundTask("work", work.run)]
    )
    return TestClient(app)


def test_background_work_runs_from_startup_until_shutdown(tmp_path: Path) -> None:
    work = Work()
    client = app_with(work, tmp_path / "ledger.db")
    assert not work.started.is_set(), "nothing runs before the app starts"
    with client:
        assert work.started.wait(30)
        assert client.get("/health").json()["head_seq"] == 0
        assert not work.stopped.is_set()
    assert work.stopped.is_set(), "shutdown stops it and waits for it"


def test_an_unmigrated_database_starts_no_background_work(tmp_path: Path) -> None:
    work = Work()
    with pytest.raises(SchemaNotReadyError), app_with(work, tmp_path / "ledger.db", migrated=False):
        pass
    assert not work.started.is_set()
