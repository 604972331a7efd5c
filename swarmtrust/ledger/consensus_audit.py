"""The audit's check of the operator's consensus decisions: each audit draw, round and outcome is one that
``ledger.consensus.next_step`` allows, given the verdicts so far, the reliabilities the replayed tables give at
that point and the rules last logged (``consensus_policy`` events; ``DEFAULT_RULES`` before any).

Fed by the spot-check replay (``ledger.spotcheck_projection``) with every event *before* it is folded, and
with each verdict again *after*. After a verdict the ledger must, in that transaction, log what ``next_step``
gives: an ``audit_draw`` for a first-round pass (its ``chance`` the verifier's ``audit_probability`` then,
``follow=audit`` followed by an audit round, ``decide`` by an outcome), a round, an outcome, or nothing when
the challenge waits. Where it waited, a later round or outcome (a vanished verifier nobody can replace) is
judged by the reliabilities at that later point, which other challenges' outcomes may have moved. Who was
present is not logged, so the check allows the steps of either case ("eligible verifiers remain" or not,
``ledger.consensus.allowed_steps``): an operator may claim nobody else could answer, but a FAIL still needs
its quorum and the weighted majority, and a coin's verdict is never skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from swarmtrust.ledger.beacon import FORCED_COIN
from swarmtrust.ledger.consensus import (
    DEFAULT_RULES,
    ConsensusRules,
    NextStep,
    RoundVerdict,
    allowed_steps,
    audit_probability,
    reliability,
)
from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.models import ChallengeRow, VerdictRow, VerifierRow
from swarmtrust.ledger.projections import AuditProblem
from swarmtrust.ledger.rowstore import RowStore
from swarmtrust.ledger.statements import Assignment, AuditDraw, ConsensusPolicy, Outcome, RoundOpened
from swarmtrust.protocol.challenges import Verdict

_ABOUT_A_CHALLENGE = (Assignment, Verdict, RoundOpened, Outcome, AuditDraw)  # the records that name one
_COIN_PROBE = 1.0 - 2.0**-53  # a coin no chance reaches: shows whether the step consults the coin at all


@dataclass(frozen=True)
class _Situation:
    """A challenge just after a verdict: what ``next_step`` was given."""

    seq: int  # of the verdict
    phase: str
    wanted: int
    verdicts: tuple[RoundVerdict, ...]
    rules: ConsensusRules

    def steps(self, coin: float) -> list[NextStep]:
        return allowed_steps(self.phase, self.wanted, self.verdicts, self.rules, coin)

    def needs_draw(self) -> bool:
        return any(step.audit_chance is not None for step in self.steps(_COIN_PROBE))


@dataclass(frozen=True)
class _AfterDraw:
    seq: int  # of the draw
    steps: tuple[NextStep, ...]


@dataclass
class ConsensusAudit:
    rules: ConsensusRules = DEFAULT_RULES
    problems: list[AuditProblem] = field(default_factory=list)
    _verdicts: dict[str, list[str]] = field(default_factory=dict)  # challenge id -> assignment ids, in order
    _pending: dict[str, _Situation | _AfterDraw] = field(default_factory=dict)  # by challenge id

    def before(self, rows: RowStore, event: LoggedEvent) -> None:
        """Check ``event`` against what the challenge it concerns was due to log next (before its fold)."""
        record = event.record
        if isinstance(record, ConsensusPolicy):
            self.rules = ConsensusRules(record.dispute_verifiers, record.audit_rate, record.max_audit_rate)
            return
        if not isinstance(record, _ABOUT_A_CHALLENGE):
            return
        cid = record.challenge_id.hex()
        challenge = rows.get(ChallengeRow, cid)
        if challenge is None:
            return  # the spot-check fold itself reports events about unknown challenges
        pending = self._pending.pop(cid, None)
        if isinstance(pending, _AfterDraw):
            self._after_draw(pending, event)
        elif isinstance(pending, _Situation):
            self._after_verdict(rows, challenge, pending, event)
        elif isinstance(record, AuditDraw):
            self._problem(event.seq, cid, "an audit draw that follows no first-round pass of this challenge")
        elif isinstance(record, (RoundOpened, Outcome)):
            if challenge["phase"] == "decided":
                self._problem(event.seq, cid, f"a {event.kind} on a challenge already decided")
            else:  # a round nobody else can answer, decided or grown when a verifier vanished
                situation = self._situation(rows, event.seq, challenge, cid)
                self._judge(situation.steps(FORCED_COIN), event, cid, f"the state at seq {event.seq}")

    def after_verdict(self, rows: RowStore, event: LoggedEvent) -> None:
        """Note a verdict (after its fold): the challenge's next step is due now."""
        verdict = event.record_as(Verdict)
        cid = verdict.challenge_id.hex()
        self._verdicts.setdefault(cid, []).append(verdict.assignment_id.hex())
        challenge = rows.get(ChallengeRow, cid)
        if challenge is not None and challenge["phase"] != "decided":  # a late verdict is recorded, not counted
            self._pending[cid] = self._situation(rows, event.seq, challenge, cid)

    def finish(self) -> list[AuditProblem]:
        """Every step still due at the end of the log is a wait (or the log ends inside a transaction: never)."""
        for cid, pending in self._pending.items():
            if isinstance(pending, _AfterDraw):
                self._problem(pending.seq, cid, "the audit draw is followed by neither its round nor an outcome")
            elif pending.needs_draw():
                self._problem(pending.seq, cid, "a first-round pass without its audit draw")
            elif not any(step.action == "wait" for step in pending.steps(FORCED_COIN)):
                self._problem(pending.seq, cid, f"the verdict at seq {pending.seq} called for a decision; none came")
        self._pending.clear()
        return self.problems

    def _after_verdict(
        self, rows: RowStore, challenge: dict[str, Any], situation: _Situation, event: LoggedEvent
    ) -> None:
        record = event.record
        assert isinstance(record, _ABOUT_A_CHALLENGE)  # ``before`` passes only these on
        cid = record.challenge_id.hex()
        if situation.needs_draw():
            if not isinstance(record, AuditDraw):
                self._problem(situation.seq, cid, "a first-round pass without its audit draw")
                return
            self._check_draw(situation, event.seq, record)
            return
        if isinstance(record, AuditDraw):
            self._problem(event.seq, cid, "an audit draw where next_step consults no coin")
            return
        then = situation.steps(FORCED_COIN)
        waited = any(step.action == "wait" for step in then)
        acted = isinstance(record, (RoundOpened, Outcome))
        if waited and acted and not _allows(then, event, self._verdicts.get(cid, [])):
            # The ledger waited after the verdict and acts now (a vanished verifier nobody can replace): judged
            # by the state now, as reliabilities moved with other challenges' outcomes meanwhile.
            now = self._situation(rows, event.seq, challenge, cid)
            cause = f"the state at seq {event.seq} (the ledger waited after the verdict at seq {situation.seq})"
            self._judge(now.steps(FORCED_COIN), event, cid, cause)
            return
        self._judge(then, event, cid, f"the verdict at seq {situation.seq}")

    def _check_draw(self, situation: _Situation, seq: int, draw: AuditDraw) -> None:
        cid = draw.challenge_id.hex()
        first = next(v for v in situation.verdicts if v.round == situation.phase)
        expected = audit_probability(first.reliability, situation.rules.audit_rate, situation.rules.max_audit_rate)
        if draw.chance != expected:
            self._problem(
                seq,
                cid,
                f"the audit draw's chance is {draw.chance!r}; the verifier's reliability then "
                f"({first.reliability:.4f}) and the ledger's rules give {expected!r}",
            )
        if draw.assignment_id.hex() != first.assignment_id:
            self._problem(seq, cid, "the audit draw names another pass than the one just recorded")
        steps = [s for s in situation.steps(draw.coin) if s.audit_chance is not None]
        self._pending[cid] = _AfterDraw(seq, tuple(steps))

    def _after_draw(self, pending: _AfterDraw, event: LoggedEvent) -> None:
        record = event.record
        assert isinstance(record, _ABOUT_A_CHALLENGE)  # ``before`` passes only these on
        cid = record.challenge_id.hex()
        self._judge(list(pending.steps), event, cid, f"the audit draw at seq {pending.seq}")

    def _judge(self, steps: Sequence[NextStep], event: LoggedEvent, cid: str, cause: str) -> None:
        """``event`` (the next about the challenge) is one of ``steps``; anything but a round or an outcome
        means the ledger waited."""
        if _allows(steps, event, self._verdicts.get(cid, [])):
            return
        record = event.record
        if isinstance(record, RoundOpened):
            taken = f"opened a {record.round} round of {record.verifiers_wanted}"
        elif isinstance(record, Outcome):
            taken = f"decided {record.outcome} on {len(record.verdicts)} verdicts"
        else:
            taken = "waited"
        allowed = sorted({_describe(s) for s in steps})
        self._problem(event.seq, cid, f"after {cause} the ledger {taken}; next_step allows {', '.join(allowed)}")

    def _situation(self, rows: RowStore, seq: int, challenge: dict[str, Any], cid: str) -> _Situation:
        verdicts = []
        for aid in self._verdicts.get(cid, []):
            row = rows.get(VerdictRow, aid)
            if row is None:
                continue
            verifier = rows.get(VerifierRow, row["verifier_key"])
            rel = reliability(verifier["agreements"], verifier["disagreements"]) if verifier else reliability(0, 0)
            verdicts.append(RoundVerdict(aid, row["verifier_key"], row["round"], row["outcome"], rel))
        return _Situation(seq, challenge["phase"], challenge["verifiers_wanted"], tuple(verdicts), self.rules)

    def _problem(self, seq: int, cid: str, detail: str) -> None:
        self.problems.append(AuditProblem(seq, f"consensus[{cid}]", detail))


def _allows(steps: Sequence[NextStep], event: LoggedEvent, verdict_ids: Sequence[str]) -> bool:
    """Whether ``event`` is one of ``steps``: the round, the outcome (on exactly the verdicts recorded), or,
    for any other event about the challenge, a wait."""
    record = event.record
    if isinstance(record, RoundOpened):
        return any(s.action == record.round and s.wanted == record.verifiers_wanted for s in steps)
    if isinstance(record, Outcome):
        recorded = tuple(bytes.fromhex(aid) for aid in verdict_ids)
        return record.verdicts == recorded and any(_same(s, record) for s in steps)
    return any(s.action == "wait" for s in steps)


def _same(step: NextStep, outcome: Outcome) -> bool:
    decision = step.decision
    return (
        step.action == "decide"
        and decision is not None
        and (decision.outcome, decision.pass_weight, decision.fail_weight)
        == (outcome.outcome, outcome.pass_weight, outcome.fail_weight)
    )


def _describe(step: NextStep) -> str:
    if step.action == "decide" and step.decision is not None:
        return f"decide {step.decision.outcome}"
    if step.action in ("audit", "dispute"):
        return f"a {step.action} round of {step.wanted}"
    return step.action
