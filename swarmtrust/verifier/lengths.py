"""How long a probe is: prompt tokens and new tokens drawn from the lengths clients ask for (pure).

The ledger summarises the sessions in its receipts (``GET /session-lengths``); a probe draws one observed
(prompt tokens, steps) pair with its share, so its lengths follow the clients' joint distribution exactly
rather than a range of its own that a server could learn. Until the ledger has sessions of the model, a
broad fallback stands in: log-normal lengths around what chat and completion clients typically send.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmtrust.protocol.errors import WireFormatError

FALLBACK_PROMPT_MEDIAN = 48  # tokens: the fallback's median prompt
FALLBACK_STEPS_MEDIAN = 32  # new tokens: the fallback's median generation
FALLBACK_SIGMA = 0.9  # spread of both, in log space (about x2.5 either side for one sigma)


@dataclass(frozen=True)
class ProbeLengths:
    prompt_tokens: int
    max_new_tokens: int


@dataclass(frozen=True)
class LengthDistribution:
    """(prompt tokens, steps) pairs with their weights; empty means the fallback."""

    pairs: tuple[tuple[int, int], ...] = ()
    weights: tuple[float, ...] = ()

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], max_length: int) -> LengthDistribution:
        """From the body of ``GET /session-lengths``; pairs a model of ``max_length`` positions cannot run
        are left out. WireFormatError when the body is not such a summary."""
        try:
            shares = [(int(s["prompt_tokens"]), int(s["steps"]), float(s["weight"])) for s in summary["shares"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise WireFormatError(f"not a session-length summary: {exc!r}") from None
        usable = [(p, n, w) for p, n, w in shares if p >= 1 and n >= 1 and p + n <= max_length and w > 0]
        if not all(math.isfinite(w) for _, _, w in usable):
            raise WireFormatError("a session-length summary with a weight that is not finite")
        return cls(tuple((p, n) for p, n, _ in usable), tuple(w for _, _, w in usable))

    @property
    def observed(self) -> bool:
        return bool(self.pairs)

    def sample(self, rng: random.Random, max_length: int) -> ProbeLengths:
        """One probe's lengths; ``prompt_tokens + max_new_tokens <= max_length`` always."""
        if self.pairs:
            cumulative = list(itertools.accumulate(self.weights))
            index = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
            prompt, steps = self.pairs[min(index, len(self.pairs) - 1)]
            return ProbeLengths(prompt, steps)
        return fallback_lengths(rng, max_length)


def fallback_lengths(rng: random.Random, max_length: int) -> ProbeLengths:
    """Broad log-normal lengths, for a model the ledger has no sessions of yet."""
    if max_length < 2:
        raise ValueError(f"a model of {max_length} positions cannot run a prompt and a new token")
    prompt = _lognormal(rng, FALLBACK_PROMPT_MEDIAN, min(2, max_length // 2), max_length // 2)
    steps = _lognormal(rng, FALLBACK_STEPS_MEDIAN, 1, max_length - prompt)
    return ProbeLengths(prompt, steps)


def _lognormal(rng: random.Random, median: float, low: int, high: int) -> int:
    return max(low, min(high, round(rng.lognormvariate(math.log(median), FALLBACK_SIGMA))))


def summary_of(lengths: Sequence[ProbeLengths]) -> dict[str, Any]:
    """A ``GET /session-lengths`` body for these sessions (one server): for tests and the benchmark."""
    counts: dict[tuple[int, int], int] = {}
    for item in lengths:
        pair = (item.prompt_tokens, item.max_new_tokens)
        counts[pair] = counts.get(pair, 0) + 1
    total = sum(counts.values()) or 1
    shares = [{"prompt_tokens": p, "steps": n, "weight": c / total} for (p, n), c in counts.items()]
    return {"model_id": "", "receipts_read": 0, "sessions": total, "servers": 1, "shares": shares}
