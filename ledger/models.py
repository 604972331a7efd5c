"""Tables of the ledger. ``events`` is the source of truth; every other table is derived from it.

Keys and digests are stored as lowercase hex text (as they appear in URLs and in auditors' queries);
record bodies and signatures as bytes. Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HEX_KEY = String(64)  # a 32-byte key or digest in hex
HEX_ID = String(32)  # a 16-byte id in hex


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One entry of the append-only, hash-chained event log."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # canonical body of the signed record
    signer: Mapped[str] = mapped_column(HEX_KEY)  # who submitted (and signed) the record
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str | None] = mapped_column(HEX_KEY, index=True)  # the server the event is about
    recorded_ms: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(HEX_KEY)
    hash: Mapped[str] = mapped_column(HEX_KEY, unique=True)


class ChainHead(Base):
    """The single row naming the last event; it serialises writers (row lock / SQLite write lock)."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(HEX_KEY)


class Server(Base):
    """Derived: every server key that has appeared in the ledger, with its receipt tally."""

    __tablename__ = "servers"

    public_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    receipt_count: Mapped[int] = mapped_column(BigInteger)
    last_receipt_ms: Mapped[int] = mapped_column(BigInteger)


class ReceiptRow(Base):
    """Derived: one row per accepted receipt, the columns of its signed body."""

    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_server_day", "server_key", "day"),)

    receipt_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"), unique=True)
    digest: Mapped[str] = mapped_column(HEX_KEY)
    session_id: Mapped[str] = mapped_column(HEX_ID, index=True)
    step: Mapped[int] = mapped_column(BigInteger)
    server_key: Mapped[str] = mapped_column(HEX_KEY)
    model_id: Mapped[str] = mapped_column(String(200))
    weights_digest: Mapped[str] = mapped_column(HEX_KEY)
    block_start: Mapped[int] = mapped_column(Integer)
    block_end: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    input_digest: Mapped[str] = mapped_column(HEX_KEY)
    input_shape: Mapped[str] = mapped_column(String(120))  # comma-separated dimensions
    output_digest: Mapped[str] = mapped_column(HEX_KEY)
    output_shape: Mapped[str] = mapped_column(String(120))
    prev_receipt: Mapped[str | None] = mapped_column(HEX_KEY)
    client_nonce: Mapped[str] = mapped_column(HEX_ID)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[dt.date] = mapped_column(Date)  # UTC day of timestamp_ms, for per-day reports
