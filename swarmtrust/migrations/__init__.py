"""Alembic migrations of the ledger schema; run them with ``swarmtrust ledger upgrade --db URL``."""
