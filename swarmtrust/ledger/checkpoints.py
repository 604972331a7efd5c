"""Checkpoints of the ledger: proposed by the ledger key, co-signed by verifiers, checked by anyone.

``Checkpointer`` (and ``propose_checkpoint``, one proposal) signs the checkpoint the log calls for (what
``ledger.checkpoint_fold`` derives, read here from the database), once per number: the ``checkpoints`` table
refuses a second one, so an honest ledger never signs two checkpoints with one number (which
``protocol.checkpoints.fork_between`` makes a proof against it). ``add_signature`` keeps a
verifier's co-signature of a stored checkpoint. ``audit_checkpoints`` recomputes every checkpoint from the events
and reports each one that the events do not give, that does not link to the one before, or whose co-signatures
do not reach a quorum of the set that signs it: a history rewritten and re-signed after verifiers co-signed it
no longer matches their signatures (``docs/auditing.md``).

Checkpoints sit beside the chain, not in it: a checkpoint attests events, and is no event itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from swarmtrust.ledger.checkpoint_fold import (
    FOLDED_KINDS,
    WEIGHT_RULE,
    ChainLink,
    CheckpointError,
    FoldedLog,
    WeightRule,
    build_checkpoint,
    differences,
    expected_checkpoint,
)
from swarmtrust.ledger.db import read_transaction, write_transaction
from swarmtrust.ledger.errors import LedgerError, RequestRefusedError
from swarmtrust.ledger.eventlog import HEAD_ROW_ID, Clock, now_ms
from swarmtrust.ledger.events import GENESIS_HASH, LoggedEvent, event_hash, open_event_record
from swarmtrust.ledger.models import ChainHead, CheckpointRow, CheckpointSignatureRow, Event, VerifierRow
from swarmtrust.ledger.rowstore import primary_key
from swarmtrust.ledger.state_root import ATTESTED, state_leaves
from swarmtrust.protocol.checkpoint_proofs import FinalityProof, publishable
from swarmtrust.protocol.checkpoints import (
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    is_final,
    signed_weight,
    signing_set,
)
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

_CHUNK = 2_000


def logged_events(connection: Connection, after: int, until: int | None = None) -> Iterator[LoggedEvent | ChainLink]:
    """The events after seq ``after`` (up to ``until``): those a checkpoint's state folds opened and verified
    (CheckpointError at one that is not a validly signed record: ``ledger audit`` says more), the others as their
    place in the chain."""
    query = select(Event.__table__).where(Event.seq > after).order_by(Event.seq)
    if until is not None:
        query = query.where(Event.seq <= until)
    for row in connection.execute(query.execution_options(yield_per=_CHUNK)):
        signer, prev_hash, digest = bytes.fromhex(row.signer), bytes.fromhex(row.prev_hash), bytes.fromhex(row.hash)
        if event_hash(row.seq, row.kind, row.payload, signer, row.signature, row.recorded_ms, prev_hash) != digest:
            raise CheckpointError(f"event {row.seq}: its hash is not the hash of its contents (altered)")
        if row.kind not in FOLDED_KINDS:
            yield ChainLink(row.seq, row.kind, prev_hash, digest)
            continue
        try:
            signed = open_event_record(row.kind, row.payload, signer, row.signature)
        except (ValueError, WireFormatError, SignatureError) as exc:
            raise CheckpointError(
                f"event {row.seq} is not a valid {row.kind} record ({exc}): run `ledger audit`"
            ) from None
        yield LoggedEvent(row.seq, row.kind, signed, row.recorded_ms, prev_hash, digest)


def stored_checkpoints(connection: Connection) -> list[Signed[Checkpoint]]:
    """Every stored checkpoint, by number."""
    wires = connection.execute(select(CheckpointRow.wire).order_by(CheckpointRow.number)).scalars()
    return [open_signed(Checkpoint, bytes(wire)) for wire in wires]


def stored_signatures(connection: Connection, number: int) -> list[Signed[CheckpointSignature]]:
    wires = connection.execute(select(CheckpointSignatureRow.wire).where(CheckpointSignatureRow.number == number))
    return [open_signed(CheckpointSignature, bytes(wire)) for wire in wires.scalars()]


class RefoldBusyError(LedgerError):
    """A proof at an old checkpoint was asked for while another one's state is being folded again."""


@dataclass(frozen=True)
class Proposed:
    status: str  # "recorded", or "unchanged" when no event came after the last checkpoint
    checkpoint: Signed[Checkpoint] | None


class Checkpointer:
    """Proposes checkpoints. At the head of the log it reads what the checkpoint fixes straight from the database:
    the chain head, the hashes of the events since the last checkpoint, and the derived tables (which the folds
    wrote, as the audit checks), so a proposal costs a few reads however many events it covers. At an earlier
    seq it folds the log (``checkpoint_fold``). Either way verifiers recompute it by folding. It keeps the
    attested state's leaves at the last few checkpoints, for inclusion proofs (``leaves_at``)."""

    KEPT = 4  # checkpoints whose leaves are kept
    REFOLDED_KEPT = 2  # older checkpoints whose leaves were folded again on request, kept too

    def __init__(self, engine: Engine, rule: WeightRule = WEIGHT_RULE) -> None:
        self.engine = engine
        self.rule = rule
        self._leaves: dict[int, list[tuple[str, object, bytes]]] = {}
        self._refolded: OrderedDict[int, list[tuple[str, object, bytes]]] = OrderedDict()
        self._lock = threading.Lock()
        self._refolding = threading.Lock()  # one refold at a time: its cost is the whole log's
        self.refolds = 0  # how many times the log was folded again for a proof

    def propose(self, key: nacl.signing.SigningKey, *, clock: Clock = now_ms, upto: int | None = None) -> Proposed:
        """Sign and store the checkpoint after the last one, at the head (or at seq ``upto``, an epoch's end);
        ``unchanged`` when no event came since. A concurrent proposal of the same number from elsewhere wins
        (RequestRefusedError ``checkpoint_taken``): this one is signed but never stored nor shown."""
        with self._lock:
            with read_transaction(self.engine) as connection:
                previous = last_checkpoint(connection)
                after = previous.record.seq if previous is not None else 0
                head = connection.execute(
                    select(ChainHead.seq, ChainHead.hash).where(ChainHead.id == HEAD_ROW_ID)
                ).one_or_none()
                seq, digest = (head.seq, bytes.fromhex(head.hash)) if head is not None else (0, GENESIS_HASH)
                if seq <= after or (upto is not None and upto <= after):
                    return Proposed("unchanged", previous)
                if upto is not None and upto < seq:
                    log = folded(connection, previous, upto)
                    seq, digest, hashes, tables = log.seq, log.head, log.since_mark, log.tables()
                else:
                    query = select(Event.hash).where(Event.seq > after).order_by(Event.seq)
                    hashes = [bytes.fromhex(h) for h in connection.execute(query).scalars()]
                    tables = attested_tables(connection)
            record = build_checkpoint(seq, digest, hashes, tables, previous, bytes(key.verify_key), clock(), self.rule)
            signed = sign_record(record, key)
            try:
                with write_transaction(self.engine) as connection:
                    connection.execute(
                        insert(CheckpointRow).values(
                            number=record.number,
                            seq=record.seq,
                            digest=checkpoint_digest(signed).hex(),
                            wire=signed.to_wire(),
                            created_ms=record.created_ms,
                        )
                    )
            except IntegrityError:
                raise RequestRefusedError(
                    "checkpoint_taken", f"checkpoint {record.number} was proposed meanwhile"
                ) from None
            self._keep(record.number, state_leaves(tables))
            return Proposed("recorded", signed)

    def _keep(self, number: int, leaves: list[tuple[str, object, bytes]]) -> None:
        self._leaves[number] = leaves
        for old in sorted(self._leaves)[: -self.KEPT]:
            del self._leaves[old]

    def leaves_at(self, number: int) -> list[tuple[str, object, bytes]] | None:
        """The attested state's leaves at checkpoint ``number``; None for a number never stored. A checkpoint older
        than those kept is folded again from the start of the log, one at a time (RefoldBusyError while another
        refold runs, so that requests cannot pile up the cost of folding the whole log)."""
        with self._lock:
            if number in self._leaves:
                return self._leaves[number]
            if number in self._refolded:
                self._refolded.move_to_end(number)
                return self._refolded[number]
        if not self._refolding.acquire(blocking=False):
            raise RefoldBusyError(
                f"the state at checkpoint {number} is being folded again for another request: retry shortly, or "
                "ask for one of the latest checkpoints"
            )
        try:
            with read_transaction(self.engine) as connection:
                seq = connection.execute(select(CheckpointRow.seq).where(CheckpointRow.number == number)).scalar()
                if seq is None:
                    return None
                log = FoldedLog()
                log.feed(logged_events(connection, 0, seq))
            leaves = state_leaves(log.tables())
            self.refolds += 1
        finally:
            self._refolding.release()
        with self._lock:
            self._refolded[number] = leaves
            while len(self._refolded) > self.REFOLDED_KEPT:
                self._refolded.popitem(last=False)
        return leaves


def last_checkpoint(connection: Connection) -> Signed[Checkpoint] | None:
    wire = connection.execute(select(CheckpointRow.wire).order_by(CheckpointRow.number.desc()).limit(1)).scalar()
    return open_signed(Checkpoint, bytes(wire)) if wire is not None else None


def folded(connection: Connection, previous: Signed[Checkpoint] | None, upto: int) -> FoldedLog:
    """The log folded to ``upto``, marked at ``previous``'s seq."""
    log = FoldedLog()
    if previous is not None:
        log.feed(logged_events(connection, 0, previous.record.seq))
        log.mark()
    log.feed(logged_events(connection, log.seq, upto))
    return log


def attested_tables(connection: Connection) -> dict[type[DeclarativeBase], dict[Any, dict[str, Any]]]:
    """The derived tables a checkpoint fixes (``state_root.ATTESTED``) and the verifiers' records (which give its
    signing set), as the database holds them, by primary key."""
    tables: dict[type[DeclarativeBase], dict[Any, dict[str, Any]]] = {}
    models: tuple[type[DeclarativeBase], ...] = (*ATTESTED.values(), VerifierRow)
    for model in models:
        key = primary_key(model)
        tables[model] = {row[key]: dict(row) for row in connection.execute(select(model)).mappings()}
    return tables


def propose_checkpoint(
    engine: Engine,
    key: nacl.signing.SigningKey,
    *,
    clock: Clock = now_ms,
    rule: WeightRule = WEIGHT_RULE,
    upto: int | None = None,
) -> Proposed:
    """One proposal (the CLI's and the demo's; the service keeps one ``Checkpointer`` for its leaves)."""
    return Checkpointer(engine, rule).propose(key, clock=clock, upto=upto)


def add_signature(engine: Engine, wire: bytes, number: int | None = None) -> str:
    """Keep a verifier's co-signature of a stored checkpoint (of ``number``, when given): ``recorded``, or
    ``duplicate`` for one it holds. RequestRefusedError ``bad_signature`` for anything but a valid co-signature of
    a stored checkpoint, ``not_a_signer`` for one by a verifier outside the checkpoint's signing set."""
    try:
        signed = open_signed(CheckpointSignature, wire)
    except (WireFormatError, SignatureError) as exc:
        raise RequestRefusedError("bad_signature", f"expected a signed checkpoint co-signature: {exc}") from None
    record = signed.record
    if number is not None and record.number != number:
        raise RequestRefusedError("bad_signature", f"a co-signature of checkpoint {record.number}, sent for {number}")
    with write_transaction(engine) as connection:
        # The checkpoint's row lock serialises its co-signatures on PostgreSQL (SQLite's BEGIN IMMEDIATE already
        # does): two taken side by side would each count the signatures without the other's, and a checkpoint
        # co-signed past 2/3 that way would stay pending for good, since no verifier signs it twice.
        stored = connection.execute(
            select(CheckpointRow.digest).where(CheckpointRow.number == record.number).with_for_update()
        ).scalar_one_or_none()
        if stored is None or stored != record.checkpoint.hex():
            raise RequestRefusedError(
                "bad_signature", f"the co-signature is not of this ledger's checkpoint {record.number}"
            )
        signers = _signers(connection, record.number)
        if record.verifier_key not in signers:
            raise RequestRefusedError(
                "not_a_signer",
                f"verifier {record.verifier_key.hex()} is not in the signing set of checkpoint {record.number} "
                "(weight comes from verdicts that agreed with decided outcomes)",
            )
        held = connection.execute(
            select(CheckpointSignatureRow.wire).where(
                CheckpointSignatureRow.number == record.number,
                CheckpointSignatureRow.verifier_key == record.verifier_key.hex(),
            )
        ).scalar_one_or_none()
        if held is not None:
            return "duplicate"
        connection.execute(
            insert(CheckpointSignatureRow).values(
                number=record.number, verifier_key=record.verifier_key.hex(), wire=wire
            )
        )
        this = _stored(connection, record.number)
        if this is not None and is_final(this, signers, stored_signatures(connection, record.number)):
            connection.execute(update(CheckpointRow).where(CheckpointRow.number == record.number).values(final=True))
    return "recorded"


def _stored(connection: Connection, number: int) -> Signed[Checkpoint] | None:
    wire = connection.execute(select(CheckpointRow.wire).where(CheckpointRow.number == number)).scalar()
    return open_signed(Checkpoint, bytes(wire)) if wire is not None else None


def _signers(connection: Connection, number: int) -> dict[bytes, int]:
    """The signing set of stored checkpoint ``number`` (empty when it or its predecessor is missing)."""
    this = _stored(connection, number)
    previous = _stored(connection, number - 1) if number > 1 else None
    if this is None or (number > 1 and previous is None):
        return {}
    return signing_set(this.record, previous.record if previous is not None else None)


def checkpoint_view(connection: Connection, number: int | None = None) -> dict[str, Any] | None:
    """What ``GET /checkpoints/{number}`` answers (the latest without ``number``); None when there is none."""
    if number is None:
        number = connection.execute(select(func.max(CheckpointRow.number))).scalar()
        if number is None:
            return None
    signed = _stored(connection, number)
    if signed is None:
        return None
    signers = _signers(connection, number)
    signatures = stored_signatures(connection, number)
    record = signed.record
    return {
        "number": record.number,
        "seq": record.seq,
        "digest": checkpoint_digest(signed).hex(),
        "state_root": record.state_root.hex(),
        "created_ms": record.created_ms,
        "record": signed.to_wire().hex(),
        "final": is_final(signed, signers, signatures),
        "signed_weight": signed_weight(signed, signers, signatures),
        "total_weight": sum(signers.values()),
        "signers": sorted(s.record.verifier_key.hex() for s in signatures),
        "signatures": [s.to_wire().hex() for s in signatures],
    }


def latest_final_view(connection: Connection) -> dict[str, Any] | None:
    """The latest checkpoint that is final (its view), or None."""
    number = connection.execute(select(func.max(CheckpointRow.number)).where(CheckpointRow.final)).scalar()
    return checkpoint_view(connection, number) if number is not None else None


def latest_final_ref(connection: Connection) -> tuple[int, bytes] | None:
    """The number and digest of the latest final checkpoint, or None (one indexed read: for every snapshot and
    reputation answer)."""
    row = connection.execute(
        select(CheckpointRow.number, CheckpointRow.digest)
        .where(CheckpointRow.final)
        .order_by(CheckpointRow.number.desc())
        .limit(1)
    ).one_or_none()
    return (row.number, bytes.fromhex(row.digest)) if row is not None else None


def latest_final_proof(connection: Connection) -> FinalityProof | None:
    """The latest final checkpoint with the one before it and a quorum of its co-signatures (``publishable``),
    as the DHT carries it; None when no checkpoint is final yet."""
    ref = latest_final_ref(connection)
    if ref is None:
        return None
    number = ref[0]
    this, previous = _stored(connection, number), _stored(connection, number - 1) if number > 1 else None
    if this is None:
        return None
    return publishable(this, previous, _signers(connection, number), stored_signatures(connection, number))


@dataclass(frozen=True)
class CheckpointStatus:
    number: int
    seq: int
    final: bool
    signed_weight: int
    total_weight: int


@dataclass
class CheckpointReport:
    checkpoints: list[CheckpointStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def last_final(self) -> CheckpointStatus | None:
        finals = [c for c in self.checkpoints if c.final]
        return finals[-1] if finals else None


def audit_checkpoints(engine: Engine, rule: WeightRule = WEIGHT_RULE) -> CheckpointReport:
    """Recompute every stored checkpoint from the events and check its link and its co-signatures (see the module
    docstring). The last checkpoint may still await its quorum; an earlier one that never reached it is a problem,
    since the next one's signers are fixed by it, and so is a co-signature of another checkpoint than the one
    stored under its number (the ledger keeps only those of the stored one: it was rewritten since)."""
    report = CheckpointReport()
    log = FoldedLog()
    with read_transaction(engine) as connection:
        checkpoints = stored_checkpoints(connection)
        previous: Signed[Checkpoint] | None = None
        for index, signed in enumerate(checkpoints):
            record = signed.record
            where = f"checkpoint {record.number} (seq {record.seq})"
            if previous is not None and signed.signer != previous.signer:
                report.problems.append(
                    f"{where}: signed by another ledger key than checkpoint {previous.record.number}"
                )
            try:
                log.feed(logged_events(connection, log.seq, record.seq))
            except CheckpointError as exc:
                report.problems.append(f"{where}: {exc}")
                break
            expected = expected_checkpoint(log, previous, record.ledger_key, record.created_ms, rule)
            wrong = differences(expected, record)
            if wrong:
                report.problems.append(f"{where}: the events do not give its {', '.join(wrong)}")
            signers = signing_set(record, previous.record if previous is not None else None)
            signatures = stored_signatures(connection, record.number)
            digest = checkpoint_digest(signed)
            for other in sorted({s.record.verifier_key.hex() for s in signatures if s.record.checkpoint != digest}):
                report.problems.append(
                    f"{where}: verifier {other} co-signed another checkpoint {record.number} than the one stored: "
                    "it was rewritten after it was signed"
                )
            final = is_final(signed, signers, signatures)
            weight = signed_weight(signed, signers, signatures)
            report.checkpoints.append(CheckpointStatus(record.number, record.seq, final, weight, sum(signers.values())))
            marked = connection.execute(
                select(CheckpointRow.final).where(CheckpointRow.number == record.number)
            ).scalar()
            if marked and not final:
                report.problems.append(
                    f"{where}: marked final, but co-signed by {weight} of {sum(signers.values())} weight, not the "
                    "more than 2/3 that makes it so"
                )
            if not final and index < len(checkpoints) - 1:
                report.problems.append(
                    f"{where}: co-signed by {weight} of {sum(signers.values())} weight, not the more than 2/3 that "
                    "makes it final"
                )
            log.mark()
            previous = signed
    return report
