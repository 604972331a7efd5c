"""The server directory as a fold of announcement events: each server's newest signed announcement.

An announcement older than the one stored (by its own ``announced_ms``) changes nothing, so events that
arrive out of order cannot roll a server back to an earlier span or name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.models import ServerDirectoryRow
from swarmtrust.ledger.projections import AuditProblem, Projection, Replay, compare_table
from swarmtrust.ledger.rowstore import MemoryRows, RowStore, SqlRows
from swarmtrust.protocol.announcements import ServerAnnouncement


def directory_row(seq: int, a: ServerAnnouncement, first_seq: int) -> dict[str, Any]:
    return {
        "server_key": a.server_key.hex(),
        "name": a.name,
        "peer_id": a.peer_id,
        "model_id": a.model_id,
        "block_start": a.block_start,
        "block_end": a.block_end,
        "dtype": a.dtype,
        "throughput": a.throughput,
        "state": a.state,
        "announced_ms": a.announced_ms,
        "first_seq": first_seq,
        "last_seq": seq,
    }


def fold_announcement(rows: RowStore, seq: int, a: ServerAnnouncement) -> None:
    stored = rows.get(ServerDirectoryRow, a.server_key.hex())
    if stored is not None and a.announced_ms <= stored["announced_ms"]:
        return
    rows.put(ServerDirectoryRow, directory_row(seq, a, stored["first_seq"] if stored else seq))


class DirectoryProjection(Projection):
    records = (ServerAnnouncement,)

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        rows = SqlRows(connection)
        for event in events:
            fold_announcement(rows, event.seq, event.record_as(ServerAnnouncement))
        rows.flush()

    def replay(self) -> Replay:
        return _DirectoryReplay()


class _DirectoryReplay(Replay):
    def __init__(self) -> None:
        self.rows = MemoryRows()

    def feed(self, event: LoggedEvent) -> None:
        fold_announcement(self.rows, event.seq, event.record_as(ServerAnnouncement))

    def compare(self, connection: Connection) -> list[AuditProblem]:
        expected = self.rows.tables.get(ServerDirectoryRow, {})
        return compare_table(connection, ServerDirectoryRow, "server_key", expected, seq_of=lambda r: r["first_seq"])
