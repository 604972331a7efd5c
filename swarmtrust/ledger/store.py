"""``Ledger``: one ledger database, opened once and passed explicitly to whoever writes or audits it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nacl.signing
from sqlalchemy import Engine

from swarmtrust.ledger.audit import AuditReport, audit_ledger
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.errors import RecordRejectedError
from swarmtrust.ledger.eventlog import Clock, now_ms
from swarmtrust.ledger.ingest import IngestResult, ingest_receipts
from swarmtrust.ledger.migrate import require_current_schema
from swarmtrust.ledger.model_registry import Registered, add_tolerance, list_models, model_view, register_model


class Ledger:
    def __init__(self, engine: Engine, *, clock: Clock = now_ms) -> None:
        self.engine = engine
        self._clock = clock

    @classmethod
    def open(cls, url: str, *, clock: Clock = now_ms) -> Ledger:
        """Open the ledger at ``url``; SchemaNotReadyError unless it was upgraded to this code's schema."""
        engine = create_ledger_engine(url)
        try:
            require_current_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def ingest_receipts(self, wires: Sequence[bytes]) -> list[IngestResult]:
        """Ingest a batch; one result per item (accepted, duplicate or rejected with a reason)."""
        return ingest_receipts(self.engine, wires, clock=self._clock)

    def ingest_receipt(self, wire: bytes) -> IngestResult:
        """Ingest one receipt; accepted or duplicate, else RecordRejectedError with the reason."""
        (result,) = self.ingest_receipts([wire])
        if result.status == "rejected":
            raise RecordRejectedError(result.reason or "rejected", result.message or "receipt rejected")
        return result

    def register_model(self, ledger_key: nacl.signing.SigningKey, model_id: str, dtypes: Sequence[str]) -> Registered:
        """Register the dtypes ``model_id`` may be served in (the first the default), signed by ``ledger_key``."""
        return register_model(self.engine, ledger_key, model_id=model_id, dtypes=dtypes, clock=self._clock)

    def add_tolerance(self, wire: bytes) -> Registered:
        """Log a signed tolerance record (``[body, signature]``); the caller vouches that an admin sent it."""
        return add_tolerance(self.engine, wire, clock=self._clock)

    def model(self, model_id: str) -> dict[str, Any] | None:
        """A model's registration, history and tolerances; None when it was never registered."""
        with self.engine.connect() as connection:
            return model_view(connection, model_id)

    def models(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return list_models(connection)

    def audit(self, *, anchor: str | None = None) -> AuditReport:
        return audit_ledger(self.engine, anchor=anchor)
