"""The arithmetic of verification consensus (pure): verifier reliability, weighted majority, sampling.

Kept beside the ledger rather than in ``verifier/`` because it is a pure function of ledger events: an
auditor recomputes every outcome from the verdicts and the reliabilities the events imply.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

# Beta(2, 1) prior on "this verifier's verdicts agree with the decided outcome": a newcomer is trusted
# somewhat (2/3), and a few disagreements pull it down quickly.
PRIOR_AGREEMENTS = 2.0
PRIOR_DISAGREEMENTS = 1.0


def reliability(agreements: int, disagreements: int) -> float:
    """Posterior mean of a verifier agreeing with outcomes."""
    return (agreements + PRIOR_AGREEMENTS) / (agreements + disagreements + PRIOR_AGREEMENTS + PRIOR_DISAGREEMENTS)


@dataclass(frozen=True)
class Vote:
    assignment_id: str
    verifier_key: str
    outcome: str  # pass, fail, invalid_evidence
    reliability: float


@dataclass(frozen=True)
class Decision:
    outcome: str
    pass_weight: float
    fail_weight: float
    invalid_weight: float


def weighted_majority(votes: Sequence[Vote]) -> Decision:
    """The outcome with the largest total reliability; on a tie a pass wins (nobody is framed by a tie),
    then invalid_evidence (doubt about the evidence is not a verdict on the server)."""
    weight = {"pass": 0.0, "fail": 0.0, "invalid_evidence": 0.0}
    for vote in votes:
        weight[vote.outcome] += vote.reliability
    outcome = max(("pass", "invalid_evidence", "fail"), key=lambda name: weight[name])  # first maximum wins
    return Decision(outcome, weight["pass"], weight["fail"], weight["invalid_evidence"])


def audit_probability(verifier_reliability: float, base_rate: float, max_rate: float = 1.0) -> float:
    """Chance that a pass is re-checked by another verifier: ``base_rate`` for a verifier that always agrees,
    rising towards ``max_rate`` as its reliability falls (a newcomer at 2/3 is audited at about
    base + 11%, a verifier that keeps passing failures almost always)."""
    distrust = (1.0 - verifier_reliability) ** 2
    return min(max_rate, max(0.0, base_rate + (max_rate - base_rate) * distrust))


def unit_sample(seed: bytes) -> float:
    """A number in [0, 1) determined by ``seed``: the ledger's coin flips, which an auditor can redo."""
    return int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "little") / 2**64


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
