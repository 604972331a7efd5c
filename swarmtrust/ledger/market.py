"""The market's write path: records that nodes sign (transfers, bonds and withdrawals, prices, payments), mints by
administrators, and settlements of escrow whose challenge window has passed.

Each record is appended and folded in one transaction under the chain head's lock, so concurrent debits of
one account are serialised: the second sees the first's balance, and a debit the balance does not cover
is refused with nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import nacl.signing
from sqlalchemy import Connection, Engine, func, select

from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.eventlog import Clock, now_ms, open_writer
from swarmtrust.ledger.events import EVENT_KINDS, EventDraft, EventRecord
from swarmtrust.ledger.market_rules import MarketRuleError
from swarmtrust.ledger.models import ChallengeRow, EscrowHoldRow, Event, Server
from swarmtrust.ledger.statements import MAX_SETTLED_HOLDS, Mint, Settlement
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

NODE_RECORDS = ("transfer", "bond", "unbond", "price", "payment")  # the market records nodes sign themselves
DEFAULT_WINDOW_MS = 10 * 60_000  # escrow is released this long after payment, unless challenged


@dataclass(frozen=True)
class Taken:
    seq: int
    kind: str


def take_node_record(
    engine: Engine,
    kind: str,
    wire: bytes,
    sender: bytes,
    *,
    clock: Clock = now_ms,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> Taken:
    """Append a market record signed by ``sender`` (the key that signed the request carrying it). A bond
    withdrawal is taken only when nothing the server did can still be challenged (``unbond_lock``, with the
    service's challenge window ``window_ms``)."""
    if kind not in NODE_RECORDS:
        raise RequestRefusedError("bad_kind", f"market records are one of {', '.join(NODE_RECORDS)}")
    signed = _open(kind, wire)
    if signed.signer != sender:
        raise RequestRefusedError("not_yours", f"this {kind} is signed by another key than the request", status=403)
    if kind == "unbond":

        def locked(connection: Connection) -> None:
            unbond_lock(connection, sender.hex(), clock(), window_ms)

        return _append(engine, kind, signed, clock, check=locked)
    return _append(engine, kind, signed, clock)


def unbond_lock(connection: Connection, server_key: str, now: int, window_ms: int) -> None:
    """Refuse a bond withdrawal (``bond_locked``) while anything the server did can still be challenged and its
    bond slashed: a payment to it in escrow, an undecided challenge of it, or a receipt of it that the ledger
    recorded less than the challenge window ago. Run inside the append's transaction, under the chain head's lock."""
    held = connection.execute(
        select(func.count(), func.max(EscrowHoldRow.opened_ms)).where(
            EscrowHoldRow.server_key == server_key, EscrowHoldRow.state.in_(("held", "challenged"))
        )
    ).one()
    if held[0]:
        raise RequestRefusedError(
            "bond_locked",
            f"{held[0]} payment(s) to this server are in escrow, open to challenges (the latest from {held[1]} ms); "
            "unbond once they are settled",
            status=409,
        )
    undecided = connection.execute(
        select(func.count()).where(ChallengeRow.server_key == server_key, ChallengeRow.phase != "decided")
    ).scalar()
    if undecided:
        raise RequestRefusedError(
            "bond_locked", f"{undecided} challenge(s) of this server are undecided; unbond once decided", status=409
        )
    # When the ledger recorded the server's newest receipt, by its own clock: the receipt's timestamp is the
    # server's to choose, and a backdated one would open the window before the session even ended.
    last = connection.execute(
        select(Event.recorded_ms).join(Server, Server.last_seq == Event.seq).where(Server.public_key == server_key)
    ).scalar()
    if last is not None and now < last + window_ms:
        raise RequestRefusedError(
            "bond_locked",
            f"this server's last session (a receipt recorded at {last} ms) can be challenged until "
            f"{last + window_ms} ms; "
            f"unbond after that ({(last + window_ms - now + 999) // 1000} s from now)",
            status=409,
        )


def mint(
    engine: Engine,
    ledger_key: nacl.signing.SigningKey,
    *,
    account: str,
    amount: int,
    reason: str,
    admin: str,
    clock: Clock = now_ms,
) -> Taken:
    """New credits for a key's account (or the treasury), by an administrator; signed by the ledger."""
    reason = reason.strip()
    if not reason:
        raise RequestRefusedError("reason_required", "say why: every mint is recorded with a reason")
    try:
        record = Mint(bytes(ledger_key.verify_key), os.urandom(16), account, amount, reason, admin, clock())
    except WireFormatError as exc:
        raise RequestRefusedError("bad_mint", str(exc)) from None
    return _append(engine, "mint", sign_record(record, ledger_key), clock)


def settle(
    engine: Engine, ledger_key: nacl.signing.SigningKey, *, window_ms: int = DEFAULT_WINDOW_MS, clock: Clock = now_ms
) -> tuple[Taken | None, int]:
    """Release every hold whose window has passed (up to a batch): the settlement event and how many."""
    now = clock()
    try:
        with open_writer(engine, clock) as writer:
            due = writer.connection.execute(
                select(EscrowHoldRow.hold)
                .where(EscrowHoldRow.state == "held", EscrowHoldRow.opened_ms <= now - window_ms)
                .order_by(EscrowHoldRow.opened_ms, EscrowHoldRow.hold)
                .limit(MAX_SETTLED_HOLDS)
            ).scalars()
            holds = tuple(bytes.fromhex(h) for h in due)
            if not holds:
                return None, 0
            record = Settlement(bytes(ledger_key.verify_key), os.urandom(16), window_ms, now, holds)
            (event,) = writer.append([EventDraft("settlement", sign_record(record, ledger_key))])
    except MarketRuleError as exc:  # would mean the query and the rules disagree: nothing is written
        raise RequestRefusedError(exc.code, str(exc), status=409) from None
    return Taken(event.seq, "settlement"), len(holds)


def _open(kind: str, wire: bytes) -> Signed[EventRecord]:
    record_type = EVENT_KINDS[kind].record_type
    try:
        return open_signed(record_type, wire)
    except (WireFormatError, SignatureError) as exc:
        raise RequestRefusedError(f"bad_{kind}", f"expected a signed {record_type.__name__}: {exc}") from None


def _append(
    engine: Engine,
    kind: str,
    signed: Signed[EventRecord],
    clock: Clock,
    *,
    check: Callable[[Connection], None] | None = None,
) -> Taken:
    """Append one record, after ``check`` (if any) passed in the same transaction."""
    try:
        with open_writer(engine, clock) as writer:
            if check is not None:
                check(writer.connection)
            (event,) = writer.append([EventDraft(kind, signed)])
    except MarketRuleError as exc:  # the transaction rolled back: nothing changed
        raise RequestRefusedError(exc.code, str(exc), status=409) from None
    return Taken(event.seq, kind)
