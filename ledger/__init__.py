"""The SQL ledger: an append-only, hash-chained event log and the tables derived from it.

Modules:
- ``models``: SQLAlchemy tables (``events`` is the source of truth; the rest is derived);
- ``events``: which records may be logged and the hash chain over them (pure);
- ``eventlog``: the one write path (lock the chain head, append, apply projections);
- ``projections``: derived tables as functions of events, applied on write and replayed by the audit;
- ``ingest``: receipt ingest with per-item accepted / duplicate / rejected results;
- ``misbehaviour``: convictions on a server's own contradictory receipts (a proof, or a conflict at ingest);
  ``misbehaviour_projection``: the ``convictions`` table, whose consequences the reputation and market folds take;
- ``model_registry``: models' registrations (the dtypes each may be served in, signed by the ledger) and
  calibrators' tolerance records; ``model_registry_projection``: the ``models``, ``model_registrations`` and
  ``tolerances`` tables;
- ``session_lengths``: the recent distribution of session lengths in the receipts (for verifiers' probes);
- ``audit``: chain, signature and derived-table verification;
- ``beacon`` (pure), ``beacon_keeper``, ``beacon_projection``: audit coins by commit-reveal: per-epoch seeds
  derived from the ledger key, committed before use and revealed an epoch later, and the audit's recomputation;
- ``verifier_pool``: who may verify a challenge now (present, serving its model, eligible, reliability) and the
  weighted draw; ``consensus_audit``: the audit's re-run of every audit draw, round and outcome;
- ``db``, ``settings``, ``migrate``: engines (SQLite WAL, PostgreSQL), the database URL, Alembic;
- ``store``: ``Ledger``, the handle the CLI and the API hold; ``cli``: ``swarmtrust ledger ...``.
"""

from ledger.audit import AuditReport
from ledger.errors import BatchTooLargeError, LedgerError, RecordRejectedError, SchemaNotReadyError
from ledger.ingest import IngestResult
from ledger.store import Ledger

__all__ = [
    "AuditReport",
    "BatchTooLargeError",
    "IngestResult",
    "Ledger",
    "LedgerError",
    "RecordRejectedError",
    "SchemaNotReadyError",
]
