"""Models fix their serving dtypes: each model's latest registration, every registration (the history verifiers
judge old sessions by), and the latest calibrated tolerance record per (model, dtype).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("model_id", sa.String(200), primary_key=True),
        sa.Column("dtypes", sa.String(80), nullable=False),
        sa.Column("registered_ms", sa.BigInteger(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "model_registrations",
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), primary_key=True, autoincrement=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("dtypes", sa.String(80), nullable=False),
        sa.Column("registered_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_model_registrations_model_id", "model_registrations", ["model_id"])
    op.create_table(
        "tolerances",
        sa.Column("slot", sa.String(220), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("hardware", sa.String(120), nullable=False),
        sa.Column("calibrator_key", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
    )
    op.create_index("ix_tolerances_model_id", "tolerances", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_tolerances_model_id", table_name="tolerances")
    op.drop_table("tolerances")
    op.drop_index("ix_model_registrations_model_id", table_name="model_registrations")
    op.drop_table("model_registrations")
    op.drop_table("models")
