"""Spot-check intake: a signed challenge with its evidence, checked against the server's own signed digests.

Forged evidence is refused and recorded against its submitter; accepted, the challenge joins the ledger with
the receipts its evidence holds (which convict their server at once if they contradict stored ones), and its
evidence is kept for the verifiers assigned to it (activations are private: nobody else may read them).
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select

from swarmtrust.ledger.eventlog import EventWriter
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.ingest import append_receipts, latest_receipt_ms
from swarmtrust.ledger.misbehaviour import Convictions
from swarmtrust.ledger.models import AssignmentRow, ChallengeRow, EvidenceBlob
from swarmtrust.ledger.spotcheck_desk import ChallengeResult, SpotCheckDesk, SpotCheckError
from swarmtrust.ledger.statements import EvidenceRejection
from swarmtrust.protocol.challenges import Challenge
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.evidence import Evidence, EvidenceError, evidence_digest, verify_evidence
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.records import CONTROL_CHARACTERS
from swarmtrust.protocol.signing import Signed, open_signed

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, desk: SpotCheckDesk) -> None:
        self.desk = desk

    def submit_challenge(
        self, challenge_wire: bytes, evidence: bytes, *, sent_by: bytes | None = None
    ) -> ChallengeResult:
        """Take a signed challenge with its evidence; ``sent_by``: the key that signed the request, which must
        be the challenge's submitter (the REST API passes it; the record is opened here, once)."""
        try:
            signed = open_signed(Challenge, challenge_wire)
        except (WireFormatError, SignatureError) as exc:
            raise SpotCheckError("bad_challenge", f"the challenge does not verify: {exc}") from exc
        challenge = signed.record
        if sent_by is not None and challenge.submitter_key != sent_by:
            raise SpotCheckError("not_yours", "a challenge is submitted by the key that signed it", 403)
        if len(evidence) > self.desk.policy.max_evidence_bytes:
            raise SpotCheckError("too_large", f"evidence over {self.desk.policy.max_evidence_bytes} bytes", 413)
        digest = evidence_digest(evidence)
        if len(evidence) != challenge.evidence_bytes or digest != challenge.evidence_digest:
            raise SpotCheckError("evidence_mismatch", "the evidence sent is not the one the challenge names")
        try:
            bundle = Evidence.decode(evidence, max_bytes=self.desk.policy.max_evidence_bytes)
            receipts = verify_evidence(bundle, challenge.server_key)
            _check_matches(challenge, receipts)
        except (WireFormatError, EvidenceError) as exc:
            reason = exc.reason if isinstance(exc, EvidenceError) else "malformed"
            self._reject(challenge, reason, str(exc))
            raise SpotCheckError(
                "forged_evidence", f"evidence refused ({reason}): {exc}; recorded against the submitter", 422
            ) from exc
        _check_dates(receipts, latest_receipt_ms(self.desk.clock))
        with self.desk.writer() as writer:
            cid = challenge.challenge_id.hex()
            known = writer.connection.execute(
                select(ChallengeRow.evidence_digest, ChallengeRow.event_seq).where(ChallengeRow.challenge_id == cid)
            ).one_or_none()
            if known is not None:
                if known.evidence_digest != digest.hex():
                    raise SpotCheckError("conflict", f"challenge {cid} exists with other evidence", 409)
                return ChallengeResult("duplicate", cid, known.event_seq)
            self._store_evidence(writer, digest.hex(), evidence)
            convict = Convictions(
                self.desk.engine, self.desk.key, clock=self.desk.clock
            ).record_conflict  # stored vs. these
            append_receipts(writer, list(enumerate(receipts)), on_conflict=convict)
            (event,) = writer.append([EventDraft("challenge", signed)])
        return ChallengeResult("accepted", cid, event.seq)

    def _reject(self, challenge: Challenge, reason: str, detail: str) -> None:
        rejection = EvidenceRejection(
            ledger_key=self.desk.ledger_key,
            challenge_id=challenge.challenge_id,
            submitter_key=challenge.submitter_key,
            server_key=challenge.server_key,
            evidence_digest=challenge.evidence_digest,
            reason=reason[:64],
            detail=CONTROL_CHARACTERS.sub("\ufffd", detail[:400]) or reason,  # an error may quote what was sent
            rejected_ms=self.desk.clock(),
        )
        with self.desk.writer() as writer:
            writer.append([EventDraft("evidence_rejected", self.desk.sign(rejection))])
        log.info("refused forged evidence from %s: %s", challenge.submitter_key.hex()[:16], detail)

    def _store_evidence(self, writer: EventWriter, digest: str, body: bytes) -> None:
        exists = writer.connection.execute(select(EvidenceBlob.digest).where(EvidenceBlob.digest == digest)).scalar()
        if exists is None:
            writer.connection.execute(
                insert(EvidenceBlob).values(digest=digest, size=len(body), body=body, stored_ms=self.desk.clock())
            )

    def evidence(self, verifier_key: bytes, digest: str) -> bytes:
        """An evidence bundle, for a verifier assigned to a challenge that names it (activations are private)."""
        with self.desk.engine.connect() as connection:
            allowed = connection.execute(
                select(AssignmentRow.assignment_id)
                .join(ChallengeRow, ChallengeRow.challenge_id == AssignmentRow.challenge_id)
                .where(AssignmentRow.verifier_key == verifier_key.hex(), ChallengeRow.evidence_digest == digest)
                .limit(1)
            ).scalar()
            if allowed is None:
                raise SpotCheckError("forbidden", "evidence is given only to verifiers assigned to it", 403)
            body = connection.execute(select(EvidenceBlob.body).where(EvidenceBlob.digest == digest)).scalar()
        if body is None:
            raise SpotCheckError("not_found", f"no evidence {digest}", 404)
        return bytes(body)


def _check_dates(receipts: list[Signed[Receipt]], latest: int) -> None:
    """Refuse evidence holding a receipt dated after ``latest`` (the ledger's clock plus the slack), as ingest
    does (``ledger.ingest``). Not held against the submitter: the server chose that date."""
    late = [signed.record for signed in receipts if signed.record.timestamp_ms > latest]
    if late:
        raise SpotCheckError(
            "future_receipt",
            f"receipt of step {late[0].step} is dated {late[0].timestamp_ms} ms, after the latest the ledger "
            f"accepts now ({latest} ms); its server dates receipts ahead of time (a client refuses such a receipt "
            "at once: node.client.receipt_check); nothing was recorded",
            422,
        )


def _check_matches(challenge: Challenge, receipts: list[Signed[Receipt]]) -> None:
    """The challenge describes exactly the session its evidence holds."""
    first = receipts[0].record
    described = (
        challenge.session_id, challenge.model_id, challenge.block_start, challenge.block_end, challenge.dtype,
        challenge.first_step, challenge.steps,
    )  # fmt: skip
    actual = (
        first.session_id,
        first.model_id,
        first.block_start,
        first.block_end,
        first.dtype,
        first.step,
        len(receipts),
    )
    if described != actual:
        raise EvidenceError("mismatch", "the challenge does not describe the session its evidence holds")
