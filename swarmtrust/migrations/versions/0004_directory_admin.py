"""The server directory (signed announcements), server presence, administrators' actions, audit runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "server_directory",
        sa.Column("server_key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("peer_id", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("block_start", sa.Integer(), nullable=False),
        sa.Column("block_end", sa.Integer(), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("throughput", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("announced_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_server_directory_model_span", "server_directory", ["model_id", "block_start", "block_end"])
    op.create_table(
        "server_presence",
        sa.Column("server_key", sa.String(64), primary_key=True),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "admin_actions",
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("server_key", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("admin", sa.String(64), nullable=False),
        sa.Column("acted_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_admin_actions_server_key", "admin_actions", ["server_key"])
    # A model's reputations and the newest event among them in one index lookup: the version of the API's
    # cached model page (``api.reputation_cache``).
    op.drop_index("ix_reputations_model_id", "reputations")
    op.create_index("ix_reputations_model_last_seq", "reputations", ["model_id", "last_seq"])
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ran_ms", sa.BigInteger(), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("events_checked", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("audit_runs")
    op.drop_index("ix_reputations_model_last_seq", "reputations")
    op.create_index("ix_reputations_model_id", "reputations", ["model_id"])
    op.drop_index("ix_admin_actions_server_key", "admin_actions")
    op.drop_table("admin_actions")
    op.drop_table("server_presence")
    op.drop_index("ix_server_directory_model_span", "server_directory")
    op.drop_table("server_directory")
