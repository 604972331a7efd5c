"""The ledger's side of spot checks: accept challenges with their evidence, hand out assignments,
take verdicts, and decide outcomes by consensus.

    submit_challenge  evidence checked against the server's signed digests; forged evidence is refused
                      and recorded against its submitter; the receipts join the ledger with the challenge
    claim             a verifier asks for work on some models (default: any): first what is addressed to
                      it; otherwise, for the oldest challenges of those models with a free slot (new, or
                      left by a verifier that missed its deadline), one verifier is drawn by reliability
                      among those present, serving the model and eligible: the caller when the draw picks
                      it, else the one drawn gets it on its next poll (so polling fastest wins nothing)
    submit_verdict    a verdict on an open assignment; a non-pass opens a dispute with k more verifiers
                      drawn by reliability; a first pass is audited when its coin says so, a coin drawn
                      after the pass is recorded from a seed the ledger committed to earlier
                      (``ledger.beacon``); once a round is complete the reliability-weighted majority
                      decides, and a FAIL only with at least 1 + k verdicts

Every decision is a ledger-signed event in the same transaction as what caused it, taken by the rules of
consensus last logged (a ``consensus_policy`` event, logged at this process's first write when its policy
differs), so that the audit can re-run each one (``ledger.consensus_audit``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import nacl.signing
from sqlalchemy import Connection, Engine, func, insert, select

from ledger.beacon import FORCED_COIN
from ledger.beacon_keeper import AuditBeacon
from ledger.consensus import DEFAULT_RULES, ConsensusRules, RoundVerdict, next_step
from ledger.errors import RequestRefusedError
from ledger.eventlog import EventWriter, now_ms, open_writer
from ledger.events import EventDraft
from ledger.ingest import append_receipts, latest_receipt_ms
from ledger.misbehaviour import Convictions
from ledger.models import (
    AssignmentRow,
    ChallengeRow,
    ConsensusPolicyRow,
    Event,
    EvidenceBlob,
    VerdictRow,
)
from ledger.statements import Assignment, ConsensusPolicy, EvidenceRejection, Outcome, RecheckRound, Round, RoundOpened
from ledger.verifier_pool import draw, mark_present, verifier_reliability
from protocol.challenges import ID_SIZE, Challenge, Verdict
from protocol.errors import SignatureError, WireFormatError
from protocol.evidence import MAX_EVIDENCE_BYTES, Evidence, EvidenceError, evidence_digest, verify_evidence
from protocol.records import CONTROL_CHARACTERS
from protocol.signing import Signed, open_signed, sign_record, verify_record

log = logging.getLogger(__name__)


class SpotCheckError(RequestRefusedError):
    """A request about spot checks that cannot be honoured; ``code`` is stable, ``status`` an HTTP status."""


@dataclass(frozen=True)
class SpotCheckPolicy:
    assignment_ttl_ms: int = 60_000  # a verifier has this long to answer before its slot goes to another
    dispute_verifiers: int = 2  # more verifiers on a challenge whose verdict is not a pass
    audit_rate: float = 0.1  # chance that a pass by a fully reliable verifier is re-checked by another ...
    max_audit_rate: float = 1.0  # ... rising towards this for verifiers that disagree with outcomes
    presence_window_ms: int = 120_000  # verifiers that asked for work this recently may be drawn for disputes
    max_evidence_bytes: int = MAX_EVIDENCE_BYTES

    def __post_init__(self) -> None:
        self.rules  # noqa: B018 - refuses rules out of range (ValueError) when the policy is made

    @property
    def rules(self) -> ConsensusRules:
        """The rules of consensus: logged by the ledger, so that every API process and the audit use them."""
        return ConsensusRules(self.dispute_verifiers, self.audit_rate, self.max_audit_rate)


@dataclass(frozen=True)
class ChallengeResult:
    status: str  # accepted or duplicate
    challenge_id: str
    seq: int | None


@dataclass(frozen=True)
class Claimed:
    assignment: Signed[Assignment]
    challenge: dict[str, Any]  # the challenges row


@dataclass(frozen=True)
class VerdictResult:
    status: str  # accepted or duplicate
    phase: str  # the challenge's phase afterwards: initial, audit, dispute or decided
    outcome: str | None


class SpotChecks:
    def __init__(
        self,
        engine: Engine,
        key: nacl.signing.SigningKey,
        policy: SpotCheckPolicy | None = None,
        *,
        clock: Callable[[], int] = now_ms,
        beacon: AuditBeacon | None = None,
    ) -> None:
        self.engine = engine
        self._key = key
        self.ledger_key = bytes(key.verify_key)
        self.policy = policy or SpotCheckPolicy()
        self._clock = clock
        self._beacon = beacon or AuditBeacon(key)  # audit coins from seeds derived from ``key``
        self._rules_declared = False  # set once a transaction that logged (or found) this policy's rules committed

    @contextmanager
    def _writer(self) -> Iterator[EventWriter]:
        """A write transaction that first logs this policy's rules of consensus unless they are in force: from
        this process's first write on, every process over the database decides by the rules last logged (the
        last process started sets them), and the audit checks every decision against them."""
        with open_writer(self.engine, self._clock) as writer:
            if not self._rules_declared:
                rules = self.policy.rules
                if logged_rules(writer.connection) != rules:
                    policy = ConsensusPolicy(
                        self.ledger_key, rules.dispute_verifiers, rules.audit_rate, rules.max_audit_rate, self._clock()
                    )
                    writer.append([EventDraft("consensus_policy", self._sign(policy))])
                    log.info("rules of consensus now %s", rules)
            yield writer
        self._rules_declared = True

    def _sign(self, record: Any) -> Signed[Any]:
        return sign_record(record, self._key)

    # --- challenges --------------------------------------------------------------------------------------

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
        if len(evidence) > self.policy.max_evidence_bytes:
            raise SpotCheckError("too_large", f"evidence over {self.policy.max_evidence_bytes} bytes", 413)
        digest = evidence_digest(evidence)
        if len(evidence) != challenge.evidence_bytes or digest != challenge.evidence_digest:
            raise SpotCheckError("evidence_mismatch", "the evidence sent is not the one the challenge names")
        try:
            bundle = Evidence.decode(evidence, max_bytes=self.policy.max_evidence_bytes)
            receipts = verify_evidence(bundle, challenge.server_key)
            _check_matches(challenge, receipts)
        except (WireFormatError, EvidenceError) as exc:
            reason = exc.reason if isinstance(exc, EvidenceError) else "malformed"
            self._reject(challenge, reason, str(exc))
            raise SpotCheckError(
                "forged_evidence", f"evidence refused ({reason}): {exc}; recorded against the submitter", 422
            ) from exc
        _check_dates(receipts, latest_receipt_ms(self._clock))
        with self._writer() as writer:
            cid = challenge.challenge_id.hex()
            known = writer.connection.execute(
                select(ChallengeRow.evidence_digest, ChallengeRow.event_seq).where(ChallengeRow.challenge_id == cid)
            ).one_or_none()
            if known is not None:
                if known.evidence_digest != digest.hex():
                    raise SpotCheckError("conflict", f"challenge {cid} exists with other evidence", 409)
                return ChallengeResult("duplicate", cid, known.event_seq)
            self._store_evidence(writer, digest.hex(), evidence)
            convict = Convictions(self.engine, self._key, clock=self._clock).record_conflict  # stored vs. these
            append_receipts(writer, list(enumerate(receipts)), on_conflict=convict)
            (event,) = writer.append([EventDraft("challenge", signed)])
        return ChallengeResult("accepted", cid, event.seq)

    def _reject(self, challenge: Challenge, reason: str, detail: str) -> None:
        rejection = EvidenceRejection(
            ledger_key=self.ledger_key,
            challenge_id=challenge.challenge_id,
            submitter_key=challenge.submitter_key,
            server_key=challenge.server_key,
            evidence_digest=challenge.evidence_digest,
            reason=reason[:64],
            detail=CONTROL_CHARACTERS.sub("\ufffd", detail[:400]) or reason,  # an error may quote what was sent
            rejected_ms=self._clock(),
        )
        with self._writer() as writer:
            writer.append([EventDraft("evidence_rejected", self._sign(rejection))])
        log.info("refused forged evidence from %s: %s", challenge.submitter_key.hex()[:16], detail)

    def _store_evidence(self, writer: EventWriter, digest: str, body: bytes) -> None:
        exists = writer.connection.execute(select(EvidenceBlob.digest).where(EvidenceBlob.digest == digest)).scalar()
        if exists is None:
            writer.connection.execute(
                insert(EvidenceBlob).values(digest=digest, size=len(body), body=body, stored_ms=self._clock())
            )

    def evidence(self, verifier_key: bytes, digest: str) -> bytes:
        """An evidence bundle, for a verifier assigned to a challenge that names it (activations are private)."""
        with self.engine.connect() as connection:
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

    # --- assignments ---------------------------------------------------------------------------------------

    def claim(self, verifier_key: bytes, models: Collection[str] | None = None) -> Claimed | None:
        """The next assignment for this verifier, among challenges of ``models`` (default: any model)."""
        now, vkey = self._clock(), verifier_key.hex()
        with self._writer() as writer:
            mark_present(writer.connection, vkey, now, models)
            # Its own open assignments first, even past their deadline: until one is handed to another
            # verifier a late answer still counts (a verifier with a queue may be late through no fault).
            query = select(AssignmentRow).where(AssignmentRow.verifier_key == vkey, AssignmentRow.state == "open")
            if models is not None:  # of the models it checks now (one it dropped is drawn again past the deadline)
                query = query.join(ChallengeRow, ChallengeRow.challenge_id == AssignmentRow.challenge_id).where(
                    ChallengeRow.model_id.in_(list(models))
                )
            mine = writer.connection.execute(query.order_by(AssignmentRow.assigned_ms).limit(1)).mappings().first()
            if mine is not None:
                return self._claimed(writer, mine["assignment_id"])
            claimed: Claimed | None = None
            handed_out = False  # new challenges given to others in this call: one, so a poll hands out little
            for challenge in self._undecided(writer, models):
                slot = self._free_slot(writer, challenge, now)
                if slot is None:
                    continue
                round_, replaces = slot
                if round_ == "initial" and handed_out:
                    continue
                # No round is first come, first served: one verifier is drawn by reliability among those present
                # and eligible; it may be another, who gets the assignment on its next poll.
                drawn = self._draw(writer, challenge, 1, now)
                if not drawn:
                    if replaces is not None and round_ != "initial":  # nobody can take a vanished one's place
                        self._advance(writer, challenge, now)
                    continue
                assignment = self._assign(writer, challenge, drawn[0], round_, replaces, now)
                if drawn[0] == vkey:
                    claimed = Claimed(assignment, challenge)
                    break
                handed_out = handed_out or round_ == "initial"
            self._beacon.reveal_due(writer, now)
        self._beacon.checked_reveals(now)
        return claimed

    def _undecided(self, writer: EventWriter, models: Collection[str] | None, limit: int = 500) -> list[dict[str, Any]]:
        """The oldest undecided challenges of ``models`` (None: any), chosen in SQL before the limit, so that
        challenges of a model nobody checks cannot crowd out the others."""
        query = select(ChallengeRow).where(ChallengeRow.phase != "decided")
        if models is not None:
            query = query.where(ChallengeRow.model_id.in_(list(models)))
        rows = writer.connection.execute(query.order_by(ChallengeRow.event_seq).limit(limit)).mappings()
        return [dict(row) for row in rows]

    def _free_slot(self, writer: EventWriter, challenge: dict[str, Any], now: int) -> tuple[Round, bytes | None] | None:
        """(round, assignment to replace) when the current round lacks a live assignment, else None."""
        round_ = challenge["phase"]
        rows = (
            writer.connection.execute(
                select(AssignmentRow).where(
                    AssignmentRow.challenge_id == challenge["challenge_id"], AssignmentRow.round == round_
                )
            )
            .mappings()
            .all()
        )
        live = [r for r in rows if r["state"] == "answered" or (r["state"] == "open" and r["deadline_ms"] > now)]
        if len(live) >= challenge["verifiers_wanted"]:
            return None
        overdue = [r for r in rows if r["state"] == "open" and r["deadline_ms"] <= now]
        return round_, bytes.fromhex(overdue[0]["assignment_id"]) if overdue else None

    def _draw(self, writer: EventWriter, challenge: dict[str, Any], count: int, now: int) -> list[str]:
        return draw(writer.connection, challenge, count, now, self.policy.presence_window_ms)

    def _assign(
        self,
        writer: EventWriter,
        challenge: dict[str, Any],
        vkey: str,
        round_: Round,
        replaces: bytes | None,
        now: int,
    ) -> Signed[Assignment]:
        self._beacon.commit_ahead(writer, now)  # the seed of this assignment's coin, committed before it
        assignment = self._sign(
            Assignment(
                ledger_key=self.ledger_key,
                assignment_id=os.urandom(ID_SIZE),
                challenge_id=bytes.fromhex(challenge["challenge_id"]),
                server_key=bytes.fromhex(challenge["server_key"]),
                verifier_key=bytes.fromhex(vkey),
                round=round_,
                replaces=replaces,
                assigned_ms=now,
                deadline_ms=now + self.policy.assignment_ttl_ms,
            )
        )
        writer.append([EventDraft("assignment", assignment)])
        return assignment

    def _claimed(self, writer: EventWriter, assignment_id: str) -> Claimed:
        row = writer.connection.execute(
            select(Event.payload, Event.signature)
            .join(AssignmentRow, AssignmentRow.event_seq == Event.seq)
            .where(AssignmentRow.assignment_id == assignment_id)
        ).one()
        signed = verify_record(Assignment, bytes(row.payload), bytes(row.signature))
        challenge = (
            writer.connection.execute(
                select(ChallengeRow).where(ChallengeRow.challenge_id == signed.record.challenge_id.hex())
            )
            .mappings()
            .one()
        )
        return Claimed(signed, dict(challenge))

    # --- verdicts and outcomes -------------------------------------------------------------------------------

    def submit_verdict(self, verdict_wire: bytes, *, sent_by: bytes | None = None) -> VerdictResult:
        """Take a signed verdict on an assignment; ``sent_by``: the key that signed the request, which must be
        the verdict's verifier (the REST API passes it; the record is opened here, once)."""
        try:
            signed = open_signed(Verdict, verdict_wire)
        except (WireFormatError, SignatureError) as exc:
            raise SpotCheckError("bad_verdict", f"the verdict does not verify: {exc}") from exc
        verdict = signed.record
        if sent_by is not None and verdict.verifier_key != sent_by:
            raise SpotCheckError("not_yours", "a verdict is submitted by the verifier that signed it", 403)
        aid = verdict.assignment_id.hex()
        with self._writer() as writer:
            assignment = (
                writer.connection.execute(select(AssignmentRow).where(AssignmentRow.assignment_id == aid))
                .mappings()
                .one_or_none()
            )
            if assignment is None:
                raise SpotCheckError("unknown_assignment", f"no assignment {aid}", 404)
            if assignment["verifier_key"] != verdict.verifier_key.hex():
                raise SpotCheckError("not_yours", "this assignment was given to another verifier", 403)
            challenge = (
                writer.connection.execute(
                    select(ChallengeRow).where(ChallengeRow.challenge_id == assignment["challenge_id"])
                )
                .mappings()
                .one()
            )
            if (verdict.challenge_id.hex(), verdict.server_key.hex(), verdict.evidence_digest.hex()) != (
                challenge["challenge_id"], challenge["server_key"], challenge["evidence_digest"],
            ):  # fmt: skip
                raise SpotCheckError("mismatch", "the verdict names another challenge, server or evidence")
            if assignment["state"] == "answered":
                return VerdictResult("duplicate", challenge["phase"], challenge["outcome"])
            if assignment["state"] == "replaced":
                raise SpotCheckError(
                    "reassigned", "the deadline passed and the challenge went to another verifier", 409
                )
            writer.append([EventDraft("verdict", signed)])
            if challenge["phase"] == "decided":  # a late answer in a round decided without it: kept, not counted
                return VerdictResult("accepted", "decided", challenge["outcome"])
            phase, outcome = self._advance(writer, dict(challenge), self._clock(), (dict(assignment), signed.digest))
        return VerdictResult("accepted", phase, outcome)

    def _advance(
        self,
        writer: EventWriter,
        challenge: dict[str, Any],
        now: int,
        answered: tuple[dict[str, Any], bytes] | None = None,
    ) -> tuple[str, str | None]:
        """Decide what a challenge needs next (``ledger.consensus.next_step``) and record it; ``answered`` is
        the assignment and verdict digest of the verdict just recorded, if that is what brought us here."""
        cid, phase = challenge["challenge_id"], challenge["phase"]
        rows = writer.connection.execute(
            select(VerdictRow).where(VerdictRow.challenge_id == cid).order_by(VerdictRow.event_seq)
        ).mappings()
        verdicts = [
            RoundVerdict(
                v["assignment_id"],
                v["verifier_key"],
                v["round"],
                v["outcome"],
                verifier_reliability(writer.connection, v["verifier_key"]),
            )
            for v in rows
        ]
        rules = current_rules(writer.connection)
        can_escalate = bool(self._draw(writer, challenge, 1, now))
        wanted = challenge["verifiers_wanted"]
        if not can_escalate and not self._open_in_round(writer, challenge, now):
            wanted = min(wanted, sum(v.round == phase for v in verdicts))  # nobody else can answer: decide
        coin: tuple[int, float] | None = None
        if phase == "initial" and answered is not None:  # the coin of a first pass, drawn now it is recorded
            coin = self._beacon.coin(writer, answered[0], answered[1])
        step = next_step(
            phase,
            wanted,
            verdicts,
            dispute_verifiers=rules.dispute_verifiers,
            audit_rate=rules.audit_rate,
            max_audit_rate=rules.max_audit_rate,
            can_escalate=can_escalate,
            audit_coin=coin[1] if coin is not None else FORCED_COIN,
        )
        if step.audit_chance is not None and coin is not None and answered is not None:
            audited = step.action == "audit"
            self._beacon.record_draw(writer, answered[0], answered[1], coin, step.audit_chance, audited, now)
        if step.action == "wait":
            return phase, None
        if step.action in ("audit", "dispute"):
            round_ = cast(RecheckRound, step.action)  # audit or dispute: just checked
            return self._open_round(writer, challenge, round_, step.wanted, now), None
        decision = step.decision
        assert decision is not None  # "decide" always carries one
        outcome = Outcome(
            ledger_key=self.ledger_key,
            challenge_id=bytes.fromhex(cid),
            server_key=bytes.fromhex(challenge["server_key"]),
            outcome=decision.outcome,
            pass_weight=decision.pass_weight,
            fail_weight=decision.fail_weight,
            verdicts=tuple(bytes.fromhex(v.assignment_id) for v in verdicts),
            decided_ms=now,
        )
        writer.append([EventDraft("outcome", self._sign(outcome))])
        return "decided", decision.outcome

    def _open_in_round(self, writer: EventWriter, challenge: dict[str, Any], now: int) -> int:
        """Open assignments of the challenge's current round still within their deadline (answers to come)."""
        return int(
            writer.connection.execute(
                select(func.count())
                .select_from(AssignmentRow)
                .where(
                    AssignmentRow.challenge_id == challenge["challenge_id"],
                    AssignmentRow.round == challenge["phase"],
                    AssignmentRow.state == "open",
                    AssignmentRow.deadline_ms > now,
                )
            ).scalar_one()
        )

    def _open_round(
        self, writer: EventWriter, challenge: dict[str, Any], round_: RecheckRound, wanted: int, now: int
    ) -> str:
        """Open (or, for a split dispute, grow) a round of ``wanted`` verifiers, drawing the missing ones."""
        opened = RoundOpened(
            ledger_key=self.ledger_key,
            challenge_id=bytes.fromhex(challenge["challenge_id"]),
            server_key=bytes.fromhex(challenge["server_key"]),
            round=round_,
            verifiers_wanted=wanted,
            opened_ms=now,
        )
        writer.append([EventDraft("round", self._sign(opened))])
        already = 0
        if challenge["phase"] == round_:
            already = writer.connection.execute(
                select(func.count())
                .select_from(AssignmentRow)
                .where(
                    AssignmentRow.challenge_id == challenge["challenge_id"],
                    AssignmentRow.round == round_,
                    AssignmentRow.state != "replaced",
                )
            ).scalar_one()
        challenge = challenge | {"phase": round_, "verifiers_wanted": wanted}
        for vkey in self._draw(writer, challenge, wanted - already, now):
            self._assign(writer, challenge, vkey, round_, None, now)
        return round_


def current_rules(connection: Connection) -> ConsensusRules:
    """The rules of consensus in force: the last ``consensus_policy`` event's, else ``DEFAULT_RULES``."""
    return logged_rules(connection) or DEFAULT_RULES


def logged_rules(connection: Connection) -> ConsensusRules | None:
    """The rules of the last ``consensus_policy`` event, if any."""
    row = connection.execute(select(ConsensusPolicyRow).where(ConsensusPolicyRow.id == 1)).mappings().first()
    if row is None:
        return None
    return ConsensusRules(row["dispute_verifiers"], row["audit_rate"], row["max_audit_rate"])


def _check_dates(receipts: list[Signed[Any]], latest: int) -> None:
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


def _check_matches(challenge: Challenge, receipts: list[Signed[Any]]) -> None:
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
