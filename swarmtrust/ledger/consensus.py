"""The arithmetic of verification consensus (pure): verifier reliability, weighted majority, sampling.

Kept beside the ledger rather than in ``verifier/`` because it is a pure function of ledger events: the
audit (``ledger.consensus_audit``) re-runs ``next_step`` at every verdict, round and outcome with the
reliabilities the replayed events imply and the rules the ledger logged (``ConsensusRules``), and names any
audit draw, round or outcome it does not allow.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.challenges import VerdictOutcome

# Beta(2, 1) prior on "this verifier's verdicts agree with the decided outcome": a newcomer is trusted
# somewhat (2/3), and a few disagreements pull it down quickly.
PRIOR_AGREEMENTS = 2.0
PRIOR_DISAGREEMENTS = 1.0


def reliability(agreements: int, disagreements: int) -> float:
    """Posterior mean of a verifier agreeing with outcomes: the same Beta machinery as server reputation."""
    return Beta(PRIOR_AGREEMENTS, PRIOR_DISAGREEMENTS, agreements, disagreements).mean


@dataclass(frozen=True)
class Vote:
    assignment_id: str
    verifier_key: str
    outcome: str  # pass, fail, invalid_evidence
    reliability: float


@dataclass(frozen=True)
class Decision:
    outcome: VerdictOutcome
    pass_weight: float
    fail_weight: float
    invalid_weight: float


def weighted_majority(votes: Sequence[Vote]) -> Decision:
    """The outcome with the largest total reliability; on a tie a pass wins (nobody is framed by a tie),
    then invalid_evidence (doubt about the evidence is not a verdict on the server)."""
    weight = {"pass": 0.0, "fail": 0.0, "invalid_evidence": 0.0}
    for vote in votes:
        weight[vote.outcome] += vote.reliability
    order: tuple[VerdictOutcome, ...] = ("pass", "invalid_evidence", "fail")
    outcome = max(order, key=lambda name: weight[name])  # first maximum wins
    return Decision(outcome, weight["pass"], weight["fail"], weight["invalid_evidence"])


# BOINC's adaptive replication for verifiers: until a verifier has this many agreements (and no disagreement;
# each disagreement needs twelve more), every pass it gives is audited at ``max_rate``, so a fresh
# identity of a colluder gains nothing from the coin.
APPRENTICE_AGREEMENTS = 10


def trusted_reliability() -> float:
    """The reliability from which a verifier's passes are audited by the coin rather than always: that of
    ``APPRENTICE_AGREEMENTS`` agreements without a disagreement (12/13)."""
    return reliability(APPRENTICE_AGREEMENTS, 0)


def audit_probability(verifier_reliability: float, base_rate: float, max_rate: float = 1.0) -> float:
    """Chance that a pass is re-checked by another verifier: ``max_rate`` while the verifier is an apprentice
    (reliability under ``trusted_reliability``), then ``base_rate`` for a verifier that always agrees, rising
    towards ``max_rate`` as its reliability falls (a verifier that keeps passing failures almost always)."""
    if verifier_reliability < trusted_reliability():
        return min(1.0, max(0.0, max_rate))
    distrust = (1.0 - verifier_reliability) ** 2
    return min(max_rate, max(0.0, base_rate + (max_rate - base_rate) * distrust))


def choose_weighted(candidates: Sequence[tuple[str, float]], count: int, seed: bytes) -> list[str]:
    """``count`` distinct keys drawn without replacement, each with probability proportional to its weight,
    by a generator seeded with ``seed`` (so the draw can be reproduced)."""
    rng = random.Random(int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "little"))
    pool = sorted(candidates)
    chosen: list[str] = []
    while pool and len(chosen) < count:
        total = sum(max(w, 0.0) for _, w in pool)
        if total <= 0:
            break
        point = rng.random() * total
        for index, (key, w) in enumerate(pool):
            point -= max(w, 0.0)
            if point < 0 or index == len(pool) - 1:
                chosen.append(key)
                pool.pop(index)
                break
    return chosen


@dataclass(frozen=True)
class RoundVerdict:
    """A verdict as the round logic sees it."""

    assignment_id: str
    verifier_key: str
    round: str  # initial, audit or dispute
    outcome: str
    reliability: float  # of its verifier, now


@dataclass(frozen=True)
class NextStep:
    """What a challenge needs once a verdict came in: ``wait`` for more verdicts (of the round, or for a
    fail's quorum), open an ``audit`` or a ``dispute`` round of ``wanted`` verifiers, or ``decide``
    (``decision`` set). ``audit_chance`` is set when the audit coin was consulted: the chance it was held to."""

    action: str
    wanted: int = 0
    decision: Decision | None = None
    audit_chance: float | None = None


CLEAR_MAJORITY = 2.0  # after a dispute, the winner must outweigh the runner-up by more than this factor


def is_clear(decision: Decision) -> bool:
    """Whether a decision is clear enough to stand: a split dispute escalates instead (a colluding
    minority that outvotes one honest verifier by drawing a friend into the dispute is then outvoted)."""
    first, second, _ = sorted((decision.pass_weight, decision.fail_weight, decision.invalid_weight), reverse=True)
    return first > CLEAR_MAJORITY * second


MIN_DISPUTE_VERIFIERS = 2  # below this, one colluder beside the first verifier would make a FAIL's quorum


@dataclass(frozen=True)
class ConsensusRules:
    """The rules of consensus an operator chose (``swarmtrust api serve`` flags); the ledger logs them in a
    signed ``consensus_policy`` event and every decision uses the rules last logged, so API processes over one
    database agree and the audit knows them."""

    dispute_verifiers: int = 2  # more verifiers on a challenge whose verdict is not a pass
    audit_rate: float = 0.1  # chance that a pass by a fully reliable verifier is re-checked by another ...
    max_audit_rate: float = 1.0  # ... rising towards this for verifiers that disagree with outcomes

    def __post_init__(self) -> None:
        if not MIN_DISPUTE_VERIFIERS <= self.dispute_verifiers <= 64:
            raise ValueError(
                f"dispute_verifiers must lie in [{MIN_DISPUTE_VERIFIERS}, 64], got {self.dispute_verifiers}: a FAIL "
                f"needs 1 + dispute_verifiers verdicts, and with fewer than {MIN_DISPUTE_VERIFIERS} one colluding "
                "verifier beside the first could convict"
            )
        if not 0.0 <= self.audit_rate <= self.max_audit_rate <= 1.0:
            raise ValueError(
                f"audit rates must satisfy 0 <= audit_rate <= max_audit_rate <= 1, got {self.audit_rate} and "
                f"{self.max_audit_rate}"
            )


DEFAULT_RULES = ConsensusRules()  # in force until a ledger logs its first consensus_policy event


def conviction_quorum(dispute_verifiers: int) -> int:
    """Verdicts a FAIL needs before it may stand: the first verifier's and ``dispute_verifiers`` more. Absent or
    late verifiers never shrink it: a dispute short of it stays open until more verifiers answer."""
    return 1 + dispute_verifiers


def next_step(
    phase: str,
    wanted: int,
    verdicts: Sequence[RoundVerdict],
    *,
    dispute_verifiers: int,
    audit_rate: float,
    max_audit_rate: float,
    can_escalate: bool = True,
    audit_coin: float,
) -> NextStep:
    """The round logic of a challenge (pure: the ledger and the simulation both run it).

    A round is complete when it has ``wanted`` verdicts. A non-pass in the first round or in an audit
    opens a dispute of ``dispute_verifiers`` more; a pass in the first round is audited when ``audit_coin``
    (uniform in [0, 1), drawn after the pass was recorded: see ``ledger.beacon``) falls under
    ``audit_probability``. A dispute decides by the reliability-weighted majority of every verdict so far once
    that decision ``stands`` (clear, and a fail unanimous); otherwise it grows by ``dispute_verifiers`` more
    while ``can_escalate`` (eligible verifiers remain), and then the plain weighted majority decides (a tie:
    pass). A FAIL never stands on fewer than ``conviction_quorum`` verdicts, whatever ``wanted`` says: the
    challenge waits for more instead. A pass may be decided on fewer (nobody is harmed by it).
    """
    if not 0.0 <= audit_coin < 1.0:
        raise ValueError(f"audit_coin must lie in [0, 1), got {audit_coin!r}")
    in_round = [v for v in verdicts if v.round == phase]
    if len(in_round) < wanted:
        return NextStep("wait")
    if phase in ("initial", "audit") and any(v.outcome != "pass" for v in in_round):
        return NextStep("dispute", wanted=dispute_verifiers)
    if phase == "initial":
        if not in_round:
            return NextStep("wait")
        chance = audit_probability(in_round[0].reliability, audit_rate, max_audit_rate)
        if audit_coin < chance:
            return NextStep("audit", wanted=1, audit_chance=chance)
        decided = _decide(phase, wanted, verdicts, dispute_verifiers, can_escalate)
        return NextStep(decided.action, decided.wanted, decided.decision, audit_chance=chance)
    return _decide(phase, wanted, verdicts, dispute_verifiers, can_escalate)


def _decide(
    phase: str, wanted: int, verdicts: Sequence[RoundVerdict], dispute_verifiers: int, can_escalate: bool
) -> NextStep:
    votes = [Vote(v.assignment_id, v.verifier_key, v.outcome, v.reliability) for v in verdicts]
    decision = weighted_majority(votes)
    if phase == "dispute" and can_escalate and not stands(decision):
        return NextStep("dispute", wanted=wanted + dispute_verifiers)
    if decision.outcome == "fail" and len(verdicts) < conviction_quorum(dispute_verifiers):
        return NextStep("wait")
    return NextStep("decide", decision=decision)


def stands(decision: Decision) -> bool:
    """Whether a dispute's decision may stand before every eligible verifier has weighed in: it must be
    clear, and a FAIL must be unanimous. A conviction quarantines a server at once, so a colluding
    minority that happens to fill most seats of a small dispute must not be able to frame it; polling
    on until the pool is exhausted puts the honest majority back in the count."""
    if not is_clear(decision):
        return False
    return decision.outcome != "fail" or decision.pass_weight == 0.0


def allowed_steps(
    phase: str, wanted: int, verdicts: Sequence[RoundVerdict], rules: ConsensusRules, audit_coin: float
) -> list[NextStep]:
    """Every step ``next_step`` may give an auditor who cannot see who was present: with eligible verifiers
    left, or without (then a round nobody else can answer may also be decided on the verdicts it has)."""
    in_round = sum(v.round == phase for v in verdicts)
    options = [(wanted, True), (wanted, False), (min(wanted, in_round), False)]
    return [
        next_step(
            phase,
            w,
            verdicts,
            dispute_verifiers=rules.dispute_verifiers,
            audit_rate=rules.audit_rate,
            max_audit_rate=rules.max_audit_rate,
            can_escalate=escalate,
            audit_coin=audit_coin,
        )
        for w, escalate in options
    ]
