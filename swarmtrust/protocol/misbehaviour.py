"""Signed misbehaviour: two receipts of one server that cannot both be honest, and the proof that says so.

An honest server signs exactly one receipt per (session, step) and chains each to its own receipt of the
step before. So two receipts signed by one key for one session convict that key when

    equivocation   they are for the same step and their bodies differ, or
    broken_chain   they are for steps t - 1 and t, and the receipt of step t does not name the digest of
                   the receipt of step t - 1 as its ``prev_receipt``,

provided their timestamps lie within ``PROOF_HORIZON_MS`` of each other. A server picks its own
timestamps, so whoever takes a receipt checks its date against their own clock (``RECEIPT_CLOCK_SLACK_MS``:
the client on every step, the ledger at ingest and challenge admission for dates in the future).

The horizon is what lets a server forget the session ids it served (``node.server.session_registry``): it
remembers each id for ``SESSION_MEMORY_MS`` after opening it and signs nothing in a session older than
``MAX_SESSION_AGE_MS``,
so any two receipts an honest server ever signs for one session id under two openings are more than
``SESSION_MEMORY_MS - MAX_SESSION_AGE_MS`` (over the horizon) apart, and never form a proof.

Anyone who holds such a pair (a client, a verifier, a reader of the ledger) wraps both receipt wires in a
``MisbehaviourProof`` signed with their own key; ``check_proof`` is the pure rule the ledger applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, ClassVar

import nacl.signing

from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS, SESSION_ID_SIZE, Receipt
from swarmtrust.protocol.records import WireRecord, blob, size, within
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

DAY_MS = 86_400_000
PROOF_HORIZON_MS = 30 * DAY_MS  # two receipts further apart than this prove nothing ...
MAX_SESSION_AGE_MS = DAY_MS  # ... an honest server signs nothing in a session opened longer ago than this ...
CLOCK_SLACK_MS = DAY_MS  # ... and remembers every session id it opened for the horizon plus both of these
SESSION_MEMORY_MS = PROOF_HORIZON_MS + MAX_SESSION_AGE_MS + CLOCK_SLACK_MS
# A receipt dated further than this from the clock of whoever takes it (the client at once, the ledger at
# ingest and admission, in the future) is refused: a server cannot date its twin receipt (or the next link
# of its chain) outside the horizon of the copy its client holds, so as to escape conviction.
RECEIPT_CLOCK_SLACK_MS = 10 * 60_000

MISBEHAVIOURS = frozenset({"equivocation", "broken_chain"})
_MAX_RECEIPT_WIRE = Receipt.MAX_BYTES + 80  # a signed receipt envelope at most


class NotAProofError(SwarmtrustError):
    """Two receipts (or a proof record) that do not convict anyone; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MisbehaviourProof(WireRecord, tag=1, frozen=True):
    """Two signed receipts of ``server_key`` for ``session_id`` that contradict each other, as reported
    (and signed) by ``reporter_key``. The receipts are kept as their exact wires, so anyone can check them."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/misbehaviour/v1"
    MAX_BYTES: ClassVar[int] = 2 * _MAX_RECEIPT_WIRE + 256
    SIGNER_FIELD: ClassVar[str] = "reporter_key"

    # who found it: earns the bounty (nobody does when the ledger itself found it)
    reporter_key: Annotated[bytes, size(32)]
    server_key: Annotated[bytes, size(32)]  # the accused, who signed both receipts
    session_id: Annotated[bytes, size(SESSION_ID_SIZE)]
    first: Annotated[bytes, blob(_MAX_RECEIPT_WIRE)]  # a signed receipt envelope (``Signed.to_wire``) ...
    second: Annotated[bytes, blob(_MAX_RECEIPT_WIRE)]  # ... and another one of the same server and session
    reported_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


@dataclass(frozen=True)
class Contradiction:
    """What a valid proof shows: which rule, and the two verified receipts (``first`` the earlier step)."""

    kind: str  # equivocation or broken_chain
    first: Signed[Receipt]
    second: Signed[Receipt]

    @property
    def server_key(self) -> bytes:
        return self.first.record.server_key

    @property
    def session_id(self) -> bytes:
        return self.first.record.session_id

    @property
    def step(self) -> int:
        """The step the server signed twice, or the step whose link is broken."""
        return self.second.record.step


def contradiction(a: Signed[Receipt], b: Signed[Receipt]) -> Contradiction:
    """The contradiction between two verified receipts, or NotAProofError saying why there is none."""
    ra, rb = a.record, b.record
    if ra.server_key != rb.server_key:
        raise NotAProofError("different_servers", "the receipts are signed by two different servers")
    if ra.session_id != rb.session_id:
        raise NotAProofError("different_sessions", "the receipts belong to two different sessions")
    if abs(ra.timestamp_ms - rb.timestamp_ms) > PROOF_HORIZON_MS:
        raise NotAProofError(
            "outside_horizon",
            f"the receipts were signed more than {PROOF_HORIZON_MS // DAY_MS} days apart: a server may have "
            "forgotten an old session by then, so they prove nothing",
        )
    if ra.step == rb.step:
        if a.body == b.body:
            raise NotAProofError("same_receipt", "both are the same receipt")
        first, second = (a, b) if a.digest < b.digest else (b, a)  # one order, whichever way they came
        return Contradiction("equivocation", first, second)
    earlier, later = (a, b) if ra.step < rb.step else (b, a)
    if later.record.step != earlier.record.step + 1:
        raise NotAProofError("not_adjacent", "receipts of steps further apart than one say nothing of each other")
    if later.record.prev_receipt == earlier.digest:
        raise NotAProofError("consistent", "the later receipt chains to the earlier one, as it should")
    return Contradiction("broken_chain", earlier, later)


def check_proof(proof: MisbehaviourProof) -> Contradiction:
    """Open both receipts of a proof, check they are the named server's and session's, and find the
    contradiction; NotAProofError (with a stable reason) when any of it fails."""
    receipts = []
    for wire in (proof.first, proof.second):
        try:
            receipts.append(open_signed(Receipt, wire))
        except WireFormatError as exc:
            raise NotAProofError("malformed_receipt", f"a receipt of the proof does not decode: {exc}") from exc
        except SignatureError as exc:
            raise NotAProofError("bad_signature", f"a receipt of the proof is not signed by its server: {exc}") from exc
    found = contradiction(receipts[0], receipts[1])
    if found.server_key != proof.server_key or found.session_id != proof.session_id:
        raise NotAProofError("wrong_subject", "the receipts are not of the server and session the proof names")
    return found


def build_proof(reporter: nacl.signing.SigningKey, found: Contradiction, reported_ms: int) -> Signed[MisbehaviourProof]:
    """A signed proof of ``found``, reported by ``reporter``."""
    proof = MisbehaviourProof(
        reporter_key=bytes(reporter.verify_key),
        server_key=found.server_key,
        session_id=found.session_id,
        first=found.first.to_wire(),
        second=found.second.to_wire(),
        reported_ms=reported_ms,
    )
    return sign_record(proof, reporter)


def find_contradiction(receipt: Signed[Receipt], held: Iterable[Signed[Receipt]]) -> Contradiction | None:
    """The first contradiction between ``receipt`` and any of ``held`` (receipts of any servers), or None."""
    for other in held:
        try:
            return contradiction(receipt, other)
        except NotAProofError:
            continue
    return None
