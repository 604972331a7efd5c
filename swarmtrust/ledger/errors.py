"""Errors of the ledger, under ``SwarmtrustError``.

LedgerError
├── SchemaNotReadyError     the database has no (or an older) swarmtrust schema
├── BatchTooLargeError      a batch of records over the ingest limit; nothing of it was written
├── RecordRejectedError     one submitted record was refused; ``reason`` is a stable code
└── RequestRefusedError     a request the ledger cannot honour; ``code`` is stable, ``status`` an HTTP status
"""

from __future__ import annotations

from swarmtrust.protocol.errors import SwarmtrustError


class LedgerError(SwarmtrustError):
    """Base of the ledger's errors."""


class SchemaNotReadyError(LedgerError):
    """The database is not at the schema this code needs; run ``swarmtrust ledger upgrade --db URL``."""


class BatchTooLargeError(LedgerError):
    """A batch holds more records than one ingest accepts; split it."""


class RecordRejectedError(LedgerError):
    """A record was refused and nothing of it was written.

    ``reason`` is one of: malformed, too_large, unsupported_version, bad_signature, conflict.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RequestRefusedError(LedgerError):
    """A request the ledger cannot honour, and nothing of it was written; ``code`` is a stable name,
    ``status`` the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
