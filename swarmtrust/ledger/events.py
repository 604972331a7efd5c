"""Event log entries: which record types may be logged, and the hash chain over them (pure code).

An event is a signed record (its canonical body, its signer and the signer's own signature) placed at
a sequence number and chained to its predecessor:

    hash = BLAKE2b-256("swarmtrust/event/v1" + canonical [seq, kind, payload, signer, signature,
                                                           recorded_ms, prev_hash])

The first event's ``prev_hash`` is 32 zero bytes. Changing, removing or reordering any event breaks
the chain from that point; changing a payload also breaks the submitter's signature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, Union, cast

from swarmtrust.ledger.statements import (
    AdminAction,
    Assignment,
    AuditDraw,
    ConsensusPolicy,
    EvidenceRejection,
    Mint,
    Outcome,
    RoundOpened,
    SeedCommitment,
    SeedReveal,
    Settlement,
)
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.challenges import Challenge, Verdict
from swarmtrust.protocol.digests import blake2b_256
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.market_records import BondDeposit, BondWithdrawal, PriceQuote, SessionPayment, Transfer
from swarmtrust.protocol.misbehaviour import MisbehaviourProof
from swarmtrust.protocol.model_records import ModelRegistration, ToleranceRecord
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.signing import Signed, verify_record

EVENT_DOMAIN = b"swarmtrust/event/v1"
GENESIS_HASH = bytes(32)


# The event log is a tagged union whose tag is the record's own type: each kind holds one record type and no
# two kinds share one, so ``match event.record`` narrows as a ``kind`` test would (``tests/ledger`` checks that
# this union and ``EVENT_KINDS`` hold the same types).
EventRecord = Union[  # noqa: UP007 (a long union reads better one type per line)
    Receipt,
    Challenge,
    EvidenceRejection,
    Assignment,
    RoundOpened,
    Verdict,
    Outcome,
    ServerAnnouncement,
    AdminAction,
    Mint,
    Transfer,
    BondDeposit,
    BondWithdrawal,
    PriceQuote,
    SessionPayment,
    Settlement,
    MisbehaviourProof,
    SeedCommitment,
    SeedReveal,
    AuditDraw,
    ConsensusPolicy,
    ModelRegistration,
    ToleranceRecord,
]


@dataclass(frozen=True)
class EventKind:
    """A kind of event: the record type its payload holds and the server key it is about (if any)."""

    name: str
    record_type: type[EventRecord]
    subject: Callable[[Any], bytes | None]


EVENT_KINDS: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        EventKind("receipt", Receipt, lambda record: record.server_key),
        EventKind("challenge", Challenge, lambda record: record.server_key),
        EventKind("evidence_rejected", EvidenceRejection, lambda record: record.submitter_key),
        EventKind("assignment", Assignment, lambda record: record.server_key),
        EventKind("round", RoundOpened, lambda record: record.server_key),
        EventKind("verdict", Verdict, lambda record: record.server_key),
        EventKind("outcome", Outcome, lambda record: record.server_key),
        EventKind("announcement", ServerAnnouncement, lambda record: record.server_key),
        EventKind("admin_action", AdminAction, lambda record: record.server_key),
        EventKind("mint", Mint, lambda record: None),
        EventKind("transfer", Transfer, lambda record: record.payer_key),
        EventKind("bond", BondDeposit, lambda record: record.server_key),
        EventKind("unbond", BondWithdrawal, lambda record: record.server_key),
        EventKind("price", PriceQuote, lambda record: record.server_key),
        EventKind("payment", SessionPayment, lambda record: record.server_key),
        EventKind("settlement", Settlement, lambda record: None),
        EventKind("misbehaviour", MisbehaviourProof, lambda record: record.server_key),
        EventKind("seed_commitment", SeedCommitment, lambda record: None),
        EventKind("seed_reveal", SeedReveal, lambda record: None),
        EventKind("audit_draw", AuditDraw, lambda record: record.server_key),
        EventKind("consensus_policy", ConsensusPolicy, lambda record: None),
        EventKind("model_registration", ModelRegistration, lambda record: None),
        EventKind("tolerance", ToleranceRecord, lambda record: None),
    )
}


_KIND_OF: dict[type[WireRecord], str] = {kind.record_type: kind.name for kind in EVENT_KINDS.values()}


def kinds_of(record_types: Iterable[type[WireRecord]]) -> frozenset[str]:
    """The event kinds that hold these record types."""
    return frozenset(_KIND_OF[record_type] for record_type in record_types)


R = TypeVar("R", bound=WireRecord)


class EventDraft(NamedTuple):
    """A verified signed record about to be appended."""

    kind: str
    signed: Signed[EventRecord]


class LoggedEvent(NamedTuple):
    """An event at its place in the chain, with its verified record."""

    seq: int
    kind: str
    signed: Signed[EventRecord]
    recorded_ms: int
    prev_hash: bytes
    hash: bytes

    @property
    def record(self) -> EventRecord:
        return self.signed.record

    def signed_as(self, record_type: type[R]) -> Signed[R]:
        """The signed record, as the one type a caller folds (TypeError for an event of another kind)."""
        if not isinstance(self.signed.record, record_type):
            raise TypeError(f"event {self.seq} holds a {self.kind}, not a {record_type.__name__}")
        return cast(Signed[R], self.signed)  # the record was just checked, and Signed is read-only

    def record_as(self, record_type: type[R]) -> R:
        """The record, as the one type a caller folds (TypeError for an event of another kind)."""
        return self.signed_as(record_type).record

    @property
    def subject(self) -> bytes | None:
        """The server the event is about, if any (indexed in ``events.subject``)."""
        return EVENT_KINDS[self.kind].subject(self.signed.record)

    def row(self) -> dict[str, Any]:
        """The ``events`` row that stores this event."""
        subject = self.subject
        return {
            "seq": self.seq,
            "kind": self.kind,
            "payload": self.signed.body,
            "signer": self.signed.signer.hex(),
            "signature": self.signed.signature,
            "subject": subject.hex() if subject is not None else None,
            "recorded_ms": self.recorded_ms,
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }


def event_hash(
    seq: int, kind: str, payload: bytes, signer: bytes, signature: bytes, recorded_ms: int, prev_hash: bytes
) -> bytes:
    return blake2b_256(EVENT_DOMAIN, pack([seq, kind, payload, signer, signature, recorded_ms, prev_hash]))


def chain(drafts: Sequence[EventDraft], *, after_seq: int, after_hash: bytes, recorded_ms: int) -> list[LoggedEvent]:
    """Place ``drafts`` after the event (``after_seq``, ``after_hash``), in order."""
    out: list[LoggedEvent] = []
    prev = after_hash
    for seq, (kind, signed) in enumerate(drafts, start=after_seq + 1):
        digest = event_hash(seq, kind, signed.body, signed.signer, signed.signature, recorded_ms, prev)
        out.append(LoggedEvent(seq, kind, signed, recorded_ms, prev, digest))
        prev = digest
    return out


def open_event_record(kind: str, payload: bytes, signer: bytes, signature: bytes) -> Signed[EventRecord]:
    """Decode and verify a stored event's record; its signer must be the stored signer.

    Raises WireFormatError for an unknown kind or bad payload, SignatureError for a bad signature.
    """
    spec = EVENT_KINDS.get(kind)
    if spec is None:
        raise WireFormatError(f"unknown event kind {kind!r}")
    signed = verify_record(spec.record_type, payload, signature)
    if signed.signer != signer:
        raise WireFormatError(f"event signer {signer.hex()} is not the record's signer {signed.signer.hex()}")
    return signed
