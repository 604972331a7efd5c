"""Convictions by signed misbehaviour: two contradictory receipts of one server in one session.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "convictions",
        sa.Column("conviction", sa.String(96), primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("server_key", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("first_digest", sa.String(64), nullable=False),
        sa.Column("second_digest", sa.String(64), nullable=False),
        sa.Column("reporter_key", sa.String(64), nullable=False),
        sa.Column("reported_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_convictions_server_key", "convictions", ["server_key"])


def downgrade() -> None:
    op.drop_index("ix_convictions_server_key", table_name="convictions")
    op.drop_table("convictions")
