"""The server directory's write path, administrators' actions, and audit runs.

A server announces itself to the ledger with its signed ``ServerAnnouncement`` (``node start --ledger``
does so at start, on every heartbeat and when it goes offline). Only a *material* change (name, peer,
model, span, dtype, online state) becomes an event: heartbeats only refresh ``server_presence``, so the
log grows with what happened, not with time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import nacl.signing
from sqlalchemy import Engine, insert, select, update

from swarmtrust.ledger.audit import AuditReport, audit_ledger
from swarmtrust.ledger.bulk_rows import insert_rows
from swarmtrust.ledger.db import read_transaction, write_transaction
from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.eventlog import Clock, now_ms, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import AuditRun, ServerDirectoryRow, ServerPresence
from swarmtrust.ledger.statements import ADMIN_ACTIONS, AdminAction, AdminActionKind
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

MATERIAL = ("name", "peer_id", "model_id", "block_start", "block_end", "dtype", "state")
MAX_CLOCK_SKEW_MS = 5 * 60_000  # an announcement dated further in the future than this is refused


@dataclass(frozen=True)
class AnnouncementResult:
    status: str  # recorded (an event) or refreshed (presence only)
    seq: int | None  # the event recorded, or the one that still describes the server


def open_announcement(wire: bytes) -> Signed[ServerAnnouncement]:
    try:
        return open_signed(ServerAnnouncement, wire)
    except (WireFormatError, SignatureError) as exc:
        raise RequestRefusedError("bad_announcement", f"expected a signed server announcement: {exc}") from None


def record_announcement(
    engine: Engine, signed: Signed[ServerAnnouncement], *, clock: Clock = now_ms
) -> AnnouncementResult:
    """Record a verified announcement: an event when something material changed, presence always."""
    a, now = signed.record, clock()
    if a.announced_ms > now + MAX_CLOCK_SKEW_MS:
        raise RequestRefusedError("clock_skew", "the announcement is dated in the future; check the server's clock")
    key = a.server_key.hex()
    with open_writer(engine, clock) as writer:
        connection = writer.connection
        stored = connection.execute(select(ServerDirectoryRow).where(ServerDirectoryRow.server_key == key)).first()
        if stored is not None and a.announced_ms <= stored.announced_ms:
            status, seq = "stale", stored.last_seq  # an older announcement than the one recorded: keep ours
        elif stored is not None and all(getattr(stored, f) == getattr(a, f) for f in MATERIAL):
            status, seq = "refreshed", stored.last_seq
        else:
            (event,) = writer.append([EventDraft("announcement", signed)])
            status, seq = "recorded", event.seq
        if status != "stale":
            presence = {"server_key": key, "last_seen_ms": now, "expires_ms": a.expires_ms}
            done = connection.execute(
                update(ServerPresence).where(ServerPresence.server_key == key).values(presence)
            ).rowcount
            if not done:
                insert_rows(connection, ServerPresence, [presence])
    return AnnouncementResult(status, seq)


def act_on_server(
    engine: Engine,
    ledger_key: nacl.signing.SigningKey,
    *,
    action: str,
    server_key: bytes,
    model_id: str,
    reason: str,
    admin: str,
    clock: Clock = now_ms,
) -> int:
    """Record an administrator's quarantine or release of a server, signed by the ledger; the event's seq."""
    if action not in ADMIN_ACTIONS:
        raise RequestRefusedError("bad_action", f"action is one of {', '.join(sorted(ADMIN_ACTIONS))}")
    reason = reason.strip()
    if not reason:
        raise RequestRefusedError("reason_required", "say why: every administrator's action is recorded with a reason")
    if len(reason) > 400:
        raise RequestRefusedError("reason_too_long", "a reason holds at most 400 characters")
    try:
        record = AdminAction(
            ledger_key=bytes(ledger_key.verify_key),
            action=cast(AdminActionKind, action),  # one of ADMIN_ACTIONS: checked above
            server_key=server_key,
            model_id=model_id,
            reason=reason,
            admin=admin,
            acted_ms=clock(),
        )
    except WireFormatError as exc:  # e.g. a control character in the reason
        raise RequestRefusedError("bad_action", str(exc)) from None
    with open_writer(engine, clock) as writer:
        (event,) = writer.append([EventDraft("admin_action", sign_record(record, ledger_key))])
    return event.seq


def run_audit(engine: Engine, *, clock: Clock = now_ms) -> AuditReport:
    """Audit the ledger and keep the result (the dashboard shows the last one)."""
    report = audit_ledger(engine)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(AuditRun).values(
                ran_ms=clock(),
                head_seq=report.head_seq,
                head_hash=report.head_hash,
                events_checked=report.events_checked,
                ok=report.ok,
                problems=len(report.problems),
                first_bad_seq=report.first_bad_seq,
            )
        )
    return report


def last_audit(engine: Engine) -> dict[str, object] | None:
    with read_transaction(engine) as connection:
        row = connection.execute(select(AuditRun).order_by(AuditRun.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None
