"""``Ledger``: one ledger database, opened once and passed explicitly to whoever writes or audits it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from ledger.audit import AuditReport, audit_ledger
from ledger.db import create_ledger_engine
from ledger.errors import RecordRejectedError
from ledger.eventlog import Clock, now_ms
from ledger.ingest import IngestResult, ingest_receipts
from ledger.migrate import require_current_schema


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

    def audit(self, *, anchor: str | None = None) -> AuditReport:
        return audit_ledger(self.engine, anchor=anchor)
