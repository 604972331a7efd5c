"""The models each verifier serves (draws only among those that serve a challenge's model), and the rules of
consensus in force (``consensus_policy`` events), which the audit checks every decision against.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("verifier_presence", sa.Column("models", sa.Text(), nullable=True))
    op.create_table(
        "consensus_policy",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("dispute_verifiers", sa.Integer(), nullable=False),
        sa.Column("audit_rate", sa.Float(), nullable=False),
        sa.Column("max_audit_rate", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consensus_policy")
    with op.batch_alter_table("verifier_presence") as batch:
        batch.drop_column("models")
