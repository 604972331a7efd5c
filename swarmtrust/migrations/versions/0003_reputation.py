"""Reputation: each checked server's two-horizon posterior, and the newcomer cohort.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "reputations",
        sa.Column("server_key", sa.String(64), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("prior_alpha", sa.Float(), nullable=False),
        sa.Column("prior_beta", sa.Float(), nullable=False),
        sa.Column("long_honest", sa.Float(), nullable=False),
        sa.Column("long_dishonest", sa.Float(), nullable=False),
        sa.Column("short_honest", sa.Float(), nullable=False),
        sa.Column("short_dishonest", sa.Float(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("checks", sa.BigInteger(), nullable=False),
        sa.Column("passes", sa.BigInteger(), nullable=False),
        sa.Column("fails", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_passes", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_reputations_model_id", "reputations", ["model_id"])
    op.create_table(
        "reputation_cohort",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("prior_alpha", sa.Float(), nullable=False),
        sa.Column("prior_beta", sa.Float(), nullable=False),
        sa.Column("honest", sa.Float(), nullable=False),
        sa.Column("dishonest", sa.Float(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reputation_cohort")
    op.drop_table("reputations")
