"""The credit market: accounts, movements, escrow holds, challenges the market follows, prices, record ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_key", sa.String(64), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "movements",
        sa.Column("position", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("from_account", sa.String(80), nullable=True),
        sa.Column("to_account", sa.String(80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_movements_from", "movements", ["from_account"])
    op.create_index("ix_movements_to", "movements", ["to_account"])
    op.create_table(
        "escrow_holds",
        sa.Column("hold", sa.String(96), primary_key=True),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("server_key", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("block_tokens", sa.BigInteger(), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_seq", sa.BigInteger(), nullable=False),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_escrow_holds_state_opened", "escrow_holds", ["state", "opened_ms"])
    op.create_index("ix_escrow_holds_client_key", "escrow_holds", ["client_key"])
    op.create_index("ix_escrow_holds_server_key", "escrow_holds", ["server_key"])
    op.create_table(
        "market_challenges",
        sa.Column("challenge_id", sa.String(32), primary_key=True),
        sa.Column("hold", sa.String(96), nullable=True),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("fail_voters", sa.String(4200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "prices",
        sa.Column("server_key", sa.String(64), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("quoted_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "market_records",
        sa.Column("record_id", sa.String(48), primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("market_records", "prices", "market_challenges"):
        op.drop_table(table)
    for index in ("ix_escrow_holds_server_key", "ix_escrow_holds_client_key", "ix_escrow_holds_state_opened"):
        op.drop_index(index, "escrow_holds")
    op.drop_table("escrow_holds")
    op.drop_index("ix_movements_to", "movements")
    op.drop_index("ix_movements_from", "movements")
    op.drop_table("movements")
    op.drop_table("accounts")
