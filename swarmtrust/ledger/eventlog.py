"""The one write path: append signed records to the hash chain and update the derived tables.

    with open_writer(engine) as writer:       # locks the chain head for the whole transaction
        ...read what decisions need...
        writer.append([EventDraft("receipt", signed), ...])

Everything inside the block commits together or not at all, and no other writer can interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from swarmtrust.ledger.bulk_rows import insert_rows, update_rows
from swarmtrust.ledger.db import write_transaction
from swarmtrust.ledger.errors import SchemaNotReadyError
from swarmtrust.ledger.events import EventDraft, LoggedEvent, chain
from swarmtrust.ledger.models import ChainHead, Event
from swarmtrust.ledger.projection_set import projections_for

HEAD_ROW_ID = 1

Clock = Callable[[], int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class EventWriter:
    """Appends events after a locked chain head; only obtained through ``open_writer``."""

    def __init__(self, connection: Connection, head_seq: int, head_hash: bytes, clock: Clock) -> None:
        self.connection = connection
        self.head_seq = head_seq
        self.head_hash = head_hash
        self._clock = clock

    def append(self, drafts: Sequence[EventDraft]) -> list[LoggedEvent]:
        if not drafts:
            return []
        events = chain(drafts, after_seq=self.head_seq, after_hash=self.head_hash, recorded_ms=self._clock())
        insert_rows(self.connection, Event, [event.row() for event in events])
        last = events[-1]
        update_rows(self.connection, ChainHead, [{"id": HEAD_ROW_ID, "seq": last.seq, "hash": last.hash.hex()}])
        self.head_seq, self.head_hash = last.seq, last.hash
        for projection in projections_for(e.kind for e in events):
            projection.apply(self.connection, [e for e in events if e.kind in projection.kinds])
        return events


@contextmanager
def open_writer(engine: Engine, clock: Clock = now_ms) -> Iterator[EventWriter]:
    """A write transaction holding the chain head's lock; commits when the block ends without error."""
    with write_transaction(engine) as connection:
        head = _lock_head(connection)
        yield EventWriter(connection, head[0], head[1], clock)


def _lock_head(connection: Connection) -> tuple[int, bytes]:
    query = select(ChainHead.seq, ChainHead.hash).where(ChainHead.id == HEAD_ROW_ID)
    if connection.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already holds the write lock
        query = query.with_for_update()
    try:
        row = connection.execute(query).one_or_none()
    except (OperationalError, ProgrammingError) as exc:
        raise SchemaNotReadyError(
            "the ledger database has no swarmtrust schema; run `swarmtrust ledger upgrade --db URL` first"
        ) from exc
    if row is None:
        raise SchemaNotReadyError("the chain_head row is missing; the ledger schema was not created by swarmtrust")
    return row.seq, bytes.fromhex(row.hash)
