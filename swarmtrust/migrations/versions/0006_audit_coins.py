"""Audit coins: the ledger's committed and revealed per-epoch seeds, and the coin drawn for each first pass.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_seeds",
        sa.Column("epoch", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("commitment", sa.String(64), nullable=True),
        sa.Column("committed_seq", sa.BigInteger(), nullable=True),
        sa.Column("seed", sa.String(64), nullable=True),
        sa.Column("revealed_seq", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_table(
        "audit_draws",
        sa.Column("assignment_id", sa.String(32), primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("challenge_id", sa.String(32), nullable=False),
        sa.Column("verifier_key", sa.String(64), nullable=False),
        sa.Column("server_key", sa.String(64), nullable=False),
        sa.Column("verdict_digest", sa.String(64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("coin", sa.Float(), nullable=False),
        sa.Column("chance", sa.Float(), nullable=False),
        sa.Column("follow", sa.String(16), nullable=False),
    )
    op.create_index("ix_audit_draws_epoch", "audit_draws", ["epoch"])
    op.create_index("ix_audit_draws_verifier", "audit_draws", ["verifier_key"])


def downgrade() -> None:
    op.drop_index("ix_audit_draws_verifier", table_name="audit_draws")
    op.drop_index("ix_audit_draws_epoch", table_name="audit_draws")
    op.drop_table("audit_draws")
    op.drop_table("audit_seeds")
