"""Spot-check adjudication: verdicts on assignments, rounds and outcomes by consensus.

A non-pass opens a dispute with k more verifiers drawn by reliability; a first pass is audited when its coin
says so, a coin drawn after the pass is recorded from a seed the ledger committed to earlier
(``ledger.beacon``); once a round is complete the reliability-weighted majority decides, and a FAIL only with at
least 1 + k verdicts (``ledger.consensus.next_step``).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import func, select

from swarmtrust.ledger.beacon import FORCED_COIN
from swarmtrust.ledger.consensus import RoundVerdict, next_step
from swarmtrust.ledger.eventlog import EventWriter
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import AssignmentRow, ChallengeRow, VerdictRow
from swarmtrust.ledger.spotcheck_assignment import Assignments
from swarmtrust.ledger.spotcheck_desk import SpotCheckDesk, SpotCheckError, VerdictResult, current_rules
from swarmtrust.ledger.statements import Outcome, RecheckRound, RoundOpened
from swarmtrust.ledger.verifier_pool import verifier_reliability
from swarmtrust.protocol.challenges import Verdict
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.signing import open_signed


class Adjudication:
    def __init__(self, desk: SpotCheckDesk, assignments: Assignments) -> None:
        self.desk = desk
        self.assignments = assignments

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
        with self.desk.writer() as writer:
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
            phase, outcome = self.advance(writer, dict(challenge), self.desk.clock(), (dict(assignment), signed.digest))
        return VerdictResult("accepted", phase, outcome)

    def advance(
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
        can_escalate = bool(self.desk.draw(writer, challenge, 1, now))
        wanted = challenge["verifiers_wanted"]
        if not can_escalate and not self._open_in_round(writer, challenge, now):
            wanted = min(wanted, sum(v.round == phase for v in verdicts))  # nobody else can answer: decide
        coin: tuple[int, float] | None = None
        if phase == "initial" and answered is not None:  # the coin of a first pass, drawn now it is recorded
            coin = self.desk.beacon.coin(writer, answered[0], answered[1])
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
            self.desk.beacon.record_draw(writer, answered[0], answered[1], coin, step.audit_chance, audited, now)
        if step.action == "wait":
            return phase, None
        if step.action in ("audit", "dispute"):
            round_ = cast(RecheckRound, step.action)  # audit or dispute: just checked
            return self._open_round(writer, challenge, round_, step.wanted, now), None
        decision = step.decision
        assert decision is not None  # "decide" always carries one
        outcome = Outcome(
            ledger_key=self.desk.ledger_key,
            challenge_id=bytes.fromhex(cid),
            server_key=bytes.fromhex(challenge["server_key"]),
            outcome=decision.outcome,
            pass_weight=decision.pass_weight,
            fail_weight=decision.fail_weight,
            verdicts=tuple(bytes.fromhex(v.assignment_id) for v in verdicts),
            decided_ms=now,
        )
        writer.append([EventDraft("outcome", self.desk.sign(outcome))])
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
            ledger_key=self.desk.ledger_key,
            challenge_id=bytes.fromhex(challenge["challenge_id"]),
            server_key=bytes.fromhex(challenge["server_key"]),
            round=round_,
            verifiers_wanted=wanted,
            opened_ms=now,
        )
        writer.append([EventDraft("round", self.desk.sign(opened))])
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
        for vkey in self.desk.draw(writer, challenge, wanted - already, now):
            self.assignments.assign(writer, challenge, vkey, round_, None, now)
        return round_
