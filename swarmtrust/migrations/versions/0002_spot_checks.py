"""Spot checks: challenges with their evidence, assignments, rounds, verdicts, disputes, outcomes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

KEY = sa.String(64)
ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "challenges",
        sa.Column("challenge_id", ID, primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("submitter_key", KEY, nullable=False),
        sa.Column("server_key", KEY, nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("block_start", sa.Integer(), nullable=False),
        sa.Column("block_end", sa.Integer(), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("steps", sa.BigInteger(), nullable=False),
        sa.Column("evidence_digest", KEY, nullable=False),
        sa.Column("submitted_ms", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("verifiers_wanted", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("outcome_seq", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_challenges_server_key", "challenges", ["server_key"])

    op.create_table(
        "assignments",
        sa.Column("assignment_id", ID, primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("challenge_id", ID, nullable=False),
        sa.Column("server_key", KEY, nullable=False),
        sa.Column("verifier_key", KEY, nullable=False),
        sa.Column("round", sa.String(16), nullable=False),
        sa.Column("replaces", ID, nullable=True),
        sa.Column("assigned_ms", sa.BigInteger(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_assignments_challenge", "assignments", ["challenge_id"])
    op.create_index("ix_assignments_verifier", "assignments", ["verifier_key"])

    op.create_table(
        "verdicts",
        sa.Column("assignment_id", ID, primary_key=True),
        sa.Column("event_seq", sa.BigInteger(), sa.ForeignKey("events.seq"), nullable=False),
        sa.Column("challenge_id", ID, nullable=False),
        sa.Column("verifier_key", KEY, nullable=False),
        sa.Column("server_key", KEY, nullable=False),
        sa.Column("round", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("steps_checked", sa.BigInteger(), nullable=False),
        sa.Column("worst_step", sa.BigInteger(), nullable=False),
        sa.Column("max_rel_error", sa.Float(), nullable=False),
        sa.Column("mean_rel_error", sa.Float(), nullable=False),
        sa.Column("decided_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_verdicts_server", "verdicts", ["server_key"])
    op.create_index("ix_verdicts_challenge", "verdicts", ["challenge_id"])

    op.create_table(
        "disputes",
        sa.Column("challenge_id", ID, primary_key=True),
        sa.Column("server_key", KEY, nullable=False),
        sa.Column("opened_seq", sa.BigInteger(), nullable=False),
        sa.Column("verifiers_wanted", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_disputes_server_key", "disputes", ["server_key"])

    op.create_table(
        "verifiers",
        sa.Column("public_key", KEY, primary_key=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("assignments", sa.BigInteger(), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.Column("agreements", sa.BigInteger(), nullable=False),
        sa.Column("disagreements", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "submitters",
        sa.Column("public_key", KEY, primary_key=True),
        sa.Column("challenges", sa.BigInteger(), nullable=False),
        sa.Column("rejected_evidence", sa.BigInteger(), nullable=False),
        sa.Column("invalid_evidence", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "evidence",
        sa.Column("digest", KEY, primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stored_ms", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "verifier_presence",
        sa.Column("public_key", KEY, primary_key=True),
        sa.Column("last_poll_ms", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "seen_requests",
        sa.Column("signature_digest", KEY, primary_key=True),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_seen_requests_expires_ms", "seen_requests", ["expires_ms"])


def downgrade() -> None:
    for table in (
        "seen_requests", "verifier_presence", "evidence", "submitters", "verifiers", "disputes", "verdicts",
        "assignments", "challenges",
    ):  # fmt: skip
        op.drop_table(table)
