"""The event log, its chain head, servers and receipts; append-only triggers and auditor views.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("signer", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("hash", name="uq_events_hash"),
    )
    op.create_index("ix_events_subject", "events", ["subject"])

    chain_head = op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "hash": GENESIS}])

    op.create_table(
        "servers",
        sa.Column("public_key", sa.String(64), primary_key=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("receipt_count", sa.BigInteger(), nullable=False),
        sa.Column("last_receipt_ms", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.String(32), primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("server_key", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("weights_digest", sa.String(64), nullable=False),
        sa.Column("block_start", sa.Integer(), nullable=False),
        sa.Column("block_end", sa.Integer(), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("input_shape", sa.String(120), nullable=False),
        sa.Column("output_digest", sa.String(64), nullable=False),
        sa.Column("output_shape", sa.String(120), nullable=False),
        sa.Column("prev_receipt", sa.String(64), nullable=True),
        sa.Column("client_nonce", sa.String(32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.UniqueConstraint("event_seq", name="uq_receipts_event_seq"),
    )
    op.create_index("ix_receipts_session_id", "receipts", ["session_id"])
    op.create_index("ix_receipts_server_day", "receipts", ["server_key", "day"])

    dialect = op.get_bind().dialect.name
    _create_append_only_guard(dialect)
    _create_views(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS server_event_history")
    op.execute("DROP VIEW IF EXISTS receipts_per_server_day")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP FUNCTION IF EXISTS swarmtrust_events_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    op.drop_table("receipts")
    op.drop_table("servers")
    op.drop_table("chain_head")
    op.drop_table("events")


def _create_append_only_guard(dialect: str) -> None:
    """Refuse UPDATE and DELETE on events: a guard against accidents, not against an attacker who owns
    the database (that one is caught by `swarmtrust ledger audit`)."""
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION swarmtrust_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the events table is append-only';
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION swarmtrust_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION swarmtrust_events_append_only()"
        )
    elif dialect == "sqlite":
        for action, name in (("UPDATE", "events_no_update"), ("DELETE", "events_no_delete")):
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON events "
                "BEGIN SELECT RAISE(ABORT, 'the events table is append-only'); END"
            )


def _create_views(dialect: str) -> None:
    recorded_at = (
        "to_timestamp(e.recorded_ms / 1000.0)"
        if dialect == "postgresql"
        else "strftime('%Y-%m-%dT%H:%M:%fZ', e.recorded_ms / 1000.0, 'unixepoch')"
    )
    op.execute(
        """
        CREATE VIEW receipts_per_server_day AS
        SELECT server_key, model_id, day,
               COUNT(*) AS receipts,
               COUNT(DISTINCT session_id) AS sessions,
               MIN(timestamp_ms) AS first_ms,
               MAX(timestamp_ms) AS last_ms
        FROM receipts
        GROUP BY server_key, model_id, day
        """
    )
    op.execute(
        f"""
        CREATE VIEW server_event_history AS
        SELECT e.subject AS server_key, e.seq, e.kind, e.signer,
               e.recorded_ms, {recorded_at} AS recorded_at, e.hash
        FROM events e
        WHERE e.subject IS NOT NULL
        """
    )
