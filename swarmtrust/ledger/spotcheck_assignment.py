"""Spot-check assignment: which verifier checks which challenge, and when a slot goes to another.

A verifier asks for work on some models (default: any): first what is addressed to it; otherwise, for the
oldest challenges of those models with a free slot (new, or left by a verifier that missed its deadline), one
verifier is drawn by reliability among those present, serving the model and eligible: the caller when the draw
picks it, else the one drawn gets it on its next poll (so polling fastest wins nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select

from swarmtrust.ledger.eventlog import EventWriter
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import AssignmentRow, ChallengeRow, Event
from swarmtrust.ledger.spotcheck_desk import Claimed, SpotCheckDesk
from swarmtrust.ledger.statements import Assignment, Round
from swarmtrust.ledger.verifier_pool import mark_present
from swarmtrust.protocol.challenges import ID_SIZE
from swarmtrust.protocol.signing import Signed, verify_record

Advance = Callable[[EventWriter, dict[str, Any], int], object]  # decide what a challenge needs next


class Assignments:
    def __init__(self, desk: SpotCheckDesk) -> None:
        self.desk = desk

    def claim(self, verifier_key: bytes, models: Collection[str] | None, advance: Advance) -> Claimed | None:
        """The next assignment for this verifier, among challenges of ``models`` (None: any model); ``advance``
        decides a challenge whose round a vanished verifier left that nobody can take over."""
        now, vkey = self.desk.clock(), verifier_key.hex()
        with self.desk.writer() as writer:
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
                drawn = self.desk.draw(writer, challenge, 1, now)
                if not drawn:
                    if replaces is not None and round_ != "initial":  # nobody can take a vanished one's place
                        advance(writer, challenge, now)
                    continue
                assignment = self.assign(writer, challenge, drawn[0], round_, replaces, now)
                if drawn[0] == vkey:
                    claimed = Claimed(assignment, challenge)
                    break
                handed_out = handed_out or round_ == "initial"
            self.desk.beacon.reveal_due(writer, now)
        self.desk.beacon.checked_reveals(now)
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

    def assign(
        self,
        writer: EventWriter,
        challenge: dict[str, Any],
        vkey: str,
        round_: Round,
        replaces: bytes | None,
        now: int,
    ) -> Signed[Assignment]:
        self.desk.beacon.commit_ahead(writer, now)  # the seed of this assignment's coin, committed before it
        assignment = self.desk.sign(
            Assignment(
                ledger_key=self.desk.ledger_key,
                assignment_id=os.urandom(ID_SIZE),
                challenge_id=bytes.fromhex(challenge["challenge_id"]),
                server_key=bytes.fromhex(challenge["server_key"]),
                verifier_key=bytes.fromhex(vkey),
                round=round_,
                replaces=replaces,
                assigned_ms=now,
                deadline_ms=now + self.desk.policy.assignment_ttl_ms,
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
