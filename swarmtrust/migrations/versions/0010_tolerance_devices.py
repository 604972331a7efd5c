"""Tolerance records are kept per device kind too: the latest per (model, dtype, device kind of its replays), so
that verifiers on the CPU and on GPUs each find the record calibrated for them. Records logged before named no
device and were calibrated on the CPU.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tolerances") as batch:
        batch.add_column(sa.Column("device", sa.String(16), nullable=False, server_default="cpu"))
    op.execute("UPDATE tolerances SET slot = dtype || ':cpu:' || model_id")


def downgrade() -> None:
    # Only the CPU's records fit the older key (one per model and dtype); the others are derived from events
    # this version of the table cannot hold apart, so they go.
    op.execute("DELETE FROM tolerances WHERE device <> 'cpu'")
    op.execute("UPDATE tolerances SET slot = dtype || ':' || model_id")
    with op.batch_alter_table("tolerances") as batch:
        batch.drop_column("device")
