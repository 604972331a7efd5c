"""Convictions by signed misbehaviour: a server's own two contradictory receipts convict it at once.

    submit           a ``MisbehaviourProof`` signed by its reporter: refused (nothing written, nothing held
                     against the server) unless it proves what ``protocol.misbehaviour.check_proof`` asks; the
                     first proof for a server and session convicts, any later one answers ``duplicate``
    conflict_hook    the same at ingest: a receipt that contradicts one already stored (``POST /receipts``,
                     a challenge's receipts) is a proof, which the ledger reports and signs itself

A conviction is one ``misbehaviour`` event; the projections fold it as a decided FAIL of that session
(quarantine, refund, slash) with the bounty to the reporter, and the audit re-derives all of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nacl.signing
from sqlalchemy import Engine, select

from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.eventlog import Clock, EventWriter, now_ms, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.ingest import ConflictHook
from swarmtrust.ledger.misbehaviour_projection import MAX_REPORT_SKEW_MS, conviction_key
from swarmtrust.ledger.models import ConvictionRow
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.misbehaviour import MisbehaviourProof, NotAProofError, build_proof, check_proof, contradiction
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed

log = logging.getLogger(__name__)


class MisbehaviourError(RequestRefusedError):
    """A misbehaviour report the ledger refuses; nothing was written."""


@dataclass(frozen=True)
class ConvictionResult:
    status: str  # accepted (this proof convicted) or duplicate (the server stood convicted for this session)
    server_key: str
    session_id: str
    kind: str  # equivocation or broken_chain: of the conviction that stands
    step: int
    seq: int  # the misbehaviour event that convicted


class Convictions:
    """Takes misbehaviour proofs; the ledger's key signs the proofs it finds itself at ingest."""

    def __init__(self, engine: Engine, key: nacl.signing.SigningKey, *, clock: Clock = now_ms) -> None:
        self.engine = engine
        self._key = key
        self._clock = clock

    def submit(self, proof_wire: bytes, caller: bytes | None = None) -> ConvictionResult:
        """Convict on ``proof_wire`` (a signed ``MisbehaviourProof``), sent by ``caller`` when it came through
        a signed request (then it must be the reporter); MisbehaviourError when it proves nothing."""
        try:
            signed = open_signed(MisbehaviourProof, proof_wire)
        except (WireFormatError, SignatureError) as exc:
            raise MisbehaviourError("bad_proof", f"the proof does not verify: {exc}") from exc
        proof = signed.record
        if caller is not None and caller != proof.reporter_key:
            raise MisbehaviourError("wrong_reporter", "sign the request with the reporter's key the proof names", 403)
        now = self._clock()
        if abs(proof.reported_ms - now) > MAX_REPORT_SKEW_MS:
            raise MisbehaviourError(
                "bad_time", f"reported_ms is {proof.reported_ms}, the ledger's clock {now}; sign it with the time now"
            )
        try:
            found = check_proof(proof)
        except NotAProofError as exc:
            raise MisbehaviourError("not_a_proof", f"{exc} ({exc.reason}); nothing was recorded", 422) from exc
        with open_writer(self.engine, self._clock) as writer:
            standing = _standing(writer, conviction_key(proof.server_key, proof.session_id))
            if standing is not None:
                return standing
            (event,) = writer.append([EventDraft("misbehaviour", signed)])
        log.warning(
            "server %s convicted of %s in session %s (reported by %s)",
            proof.server_key.hex()[:16],
            found.kind,
            proof.session_id.hex(),
            proof.reporter_key.hex()[:16],
        )
        return ConvictionResult(
            "accepted", proof.server_key.hex(), proof.session_id.hex(), found.kind, found.step, event.seq
        )

    def conflict_hook(self) -> ConflictHook:
        """What ingest calls on a receipt whose id is stored with other content, inside its transaction."""
        return self.record_conflict

    def record_conflict(self, writer: EventWriter, stored: Signed[Receipt], new: Signed[Receipt]) -> int | None:
        """Convict on two receipts for one step met at ingest (reported and signed by the ledger): the
        event that convicts the server for that session, or None when the pair proves nothing (e.g. signed
        further apart than the proof horizon)."""
        try:
            found = contradiction(stored, new)
        except NotAProofError:
            return None
        standing = _standing(writer, conviction_key(found.server_key, found.session_id))
        if standing is not None:
            return standing.seq
        (event,) = writer.append([EventDraft("misbehaviour", build_proof(self._key, found, self._clock()))])
        log.warning(
            "server %s convicted at ingest: two receipts for step %d of session %s",
            found.server_key.hex()[:16],
            found.step,
            found.session_id.hex(),
        )
        return event.seq


def _standing(writer: EventWriter, key: str) -> ConvictionResult | None:
    row = writer.connection.execute(select(ConvictionRow).where(ConvictionRow.conviction == key)).mappings().first()
    if row is None:
        return None
    return ConvictionResult(
        "duplicate", row["server_key"], row["session_id"], row["kind"], row["step"], row["event_seq"]
    )
