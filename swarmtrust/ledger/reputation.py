"""The reputation model (pure): from spot-check outcomes to trust, state and spot-check rate.

Per server, two Beta posteriors over "a checked session is honest" (see ``protocol.beta``):

- the **long** horizon forgets slowly (evidence halves every 30 days): its 5% credible lower bound is the
  server's **trust**, which sets routing weight, spot-check rate and market standing;
- the **short** horizon forgets after a few checks: its lower bound falling under ``quarantine_bound``
  quarantines a server that turns bad, whatever its record.

A consensus FAIL is a confirmed cheat: the server is quarantined at once (honest servers essentially
never fail, so one confirmed failure is not noise). Quarantine is sticky: only an admin releases it.

Each observation carries the weight of the verifiers behind the outcome (their summed reliability, at
most ``max_weight``), so a consensus outweighs a single check. Newcomers start from an empirical-Bayes
prior: the recent newcomer cohort's pass rate, kept as a posterior of its own that forgets in a day and
capped, so that a flood of cheating fresh identities lowers the prior of every newcomer after it.

Everything is a pure function of the outcomes in ledger order; ``ledger.reputation_projection`` folds
events through it and ``swarmtrust ledger audit`` replays it from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from swarmtrust.protocol.beta import Beta, Horizon
from swarmtrust.protocol.bond_rule import SPOT_CHECK_FLOOR
from swarmtrust.protocol.newcomers import PRIOR_MEAN_CAP, PRIOR_MEAN_FLOOR, PRIOR_STRENGTH

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ReputationParams:
    long: Horizon = Horizon(half_life_ms=30 * DAY_MS)  # trust: slow to forget
    short: Horizon = Horizon(half_life_checks=3.0)  # quarantine: reacts within a few checks
    cohort: Horizon = Horizon(half_life_ms=DAY_MS)  # the newcomer cohort's recent pass rate
    prior_strength: float = PRIOR_STRENGTH  # pseudo-checks in a newcomer's prior
    prior_mean_cap: float = PRIOR_MEAN_CAP  # a newcomer never starts above this ...
    prior_mean_floor: float = PRIOR_MEAN_FLOOR  # ... nor below this
    newcomer_passes: int = 10  # consecutive passes before a server's spot-check rate starts to fall
    credible_level: float = 0.05  # trust is this quantile of the long posterior
    quarantine_bound: float = 0.2  # short-horizon lower bound under which a server is quarantined
    spot_check_floor: float = SPOT_CHECK_FLOOR  # the spot-check rate never falls below this (the bond rule's r)
    spot_check_scale: float = 6.0  # a trusted server's rate is this times its distrust (1 - trust)
    max_weight: float = 3.0  # most an outcome can weigh


DEFAULT_PARAMS = ReputationParams()
STATES = ("newcomer", "trusted", "quarantined")


@dataclass(frozen=True)
class ServerReputation:
    long: Beta
    short: Beta
    updated_ms: int  # time of the last observation (the long horizon decays lazily from here)
    checks: int
    passes: int
    fails: int
    consecutive_passes: int
    quarantined: bool

    def long_at(self, now_ms: int, params: ReputationParams = DEFAULT_PARAMS) -> Beta:
        """The long posterior as of ``now_ms``: evidence decayed for the time since the last check."""
        return self.long.decayed(params.long.factor(0, now_ms - self.updated_ms))

    def trust(self, now_ms: int, params: ReputationParams = DEFAULT_PARAMS) -> float:
        return 0.0 if self.quarantined else self.long_at(now_ms, params).lower_bound(params.credible_level)

    def state(self, params: ReputationParams = DEFAULT_PARAMS) -> str:
        if self.quarantined:
            return "quarantined"
        return "newcomer" if self.consecutive_passes < params.newcomer_passes else "trusted"

    def spot_check_rate(self, now_ms: int, params: ReputationParams = DEFAULT_PARAMS) -> float:
        """Every session of a newcomer (and of a quarantined server) until it has passed
        ``newcomer_passes`` checks in a row; then falling with trust, never under the floor."""
        if self.state(params) != "trusted":
            return 1.0
        return trusted_spot_check_rate(self.trust(now_ms, params), params)


def trusted_spot_check_rate(trust: float, params: ReputationParams = DEFAULT_PARAMS) -> float:
    """A trusted server's spot-check rate: falling with trust, never under the floor."""
    return min(1.0, max(params.spot_check_floor, params.spot_check_scale * (1.0 - trust)))


def newcomer(prior_mean: float, at_ms: int, params: ReputationParams = DEFAULT_PARAMS) -> ServerReputation:
    prior = Beta.with_mean(prior_mean, params.prior_strength)
    return ServerReputation(prior, prior, at_ms, 0, 0, 0, 0, False)


def newcomer_prior_mean(cohort: Beta, at_ms_elapsed: int, params: ReputationParams = DEFAULT_PARAMS) -> float:
    """The prior mean of the next newcomer: the cohort's recent pass rate, within floor and cap."""
    recent = cohort.decayed(params.cohort.factor(0, at_ms_elapsed))
    return min(params.prior_mean_cap, max(params.prior_mean_floor, recent.mean))


def observe(
    reputation: ServerReputation,
    honest: bool,
    weight: float,
    at_ms: int,
    params: ReputationParams = DEFAULT_PARAMS,
) -> ServerReputation:
    """The reputation after one checked session (an outcome of weight ``weight`` at ``at_ms``)."""
    weight = min(max(weight, 0.0), params.max_weight)
    elapsed = max(0, at_ms - reputation.updated_ms)
    long = reputation.long.decayed(params.long.factor(1, elapsed)).observe(honest, weight)
    short = reputation.short.decayed(params.short.factor(1, elapsed)).observe(honest, weight)
    quarantined = (
        reputation.quarantined
        or not honest  # a confirmed cheat: unroutable at once, however long its record
        # Recent dishonest evidence that drags the short horizon down (never a weak prior alone: a newcomer
        # starting from a low cohort prior is not thereby suspect).
        or (short.dishonest > 0 and short.lower_bound(params.credible_level) < params.quarantine_bound)
    )
    return replace(
        reputation,
        long=long,
        short=short,
        updated_ms=max(at_ms, reputation.updated_ms),
        checks=reputation.checks + 1,
        passes=reputation.passes + honest,
        fails=reputation.fails + (not honest),
        consecutive_passes=reputation.consecutive_passes + 1 if honest else 0,
        quarantined=quarantined,
    )


def apply_outcome(
    reputation: ServerReputation | None,
    cohort: Beta,
    cohort_updated_ms: int,
    honest: bool,
    weight: float,
    at_ms: int,
    params: ReputationParams = DEFAULT_PARAMS,
) -> tuple[ServerReputation, Beta]:
    """One decided check of a server: its reputation after it (a first check starts it from the newcomer
    prior) and the newcomer cohort after it (fed only by checks of servers still in the newcomer state)."""
    elapsed = at_ms - cohort_updated_ms
    if reputation is None:
        reputation = newcomer(newcomer_prior_mean(cohort, elapsed, params), at_ms, params)
    if reputation.state(params) == "newcomer":
        cohort = cohort.decayed(params.cohort.factor(0, elapsed)).observe(honest, weight)
    return observe(reputation, honest, weight, at_ms, params), cohort


def quarantine_by_admin(reputation: ServerReputation) -> ServerReputation:
    """An administrator's quarantine: unroutable at once; its evidence stays as it was."""
    return replace(reputation, quarantined=True)


def release(reputation: ServerReputation) -> ServerReputation:
    """An administrator's release: routable again, with the short horizon back at its prior (the evidence
    that quarantined it would otherwise quarantine it again at the next check) and its run of passes reset,
    so every session is checked until it has passed ``newcomer_passes`` in a row. The long horizon keeps
    its failures: trust is earned back, not restored."""
    short = Beta(reputation.short.prior_alpha, reputation.short.prior_beta)
    return replace(reputation, short=short, consecutive_passes=0, quarantined=False)


def outcome_weight(
    outcome: str, pass_weight: float, fail_weight: float, params: ReputationParams = DEFAULT_PARAMS
) -> float:
    """The weight of an outcome: the reliability of the verifiers that agree with it, capped."""
    winner = pass_weight if outcome == "pass" else fail_weight
    return min(params.max_weight, winner) if math.isfinite(winner) else params.max_weight


def describe(reputation: ServerReputation, now_ms: int, params: ReputationParams = DEFAULT_PARAMS) -> dict[str, object]:
    """What clients and people read of a reputation at ``now_ms`` (the long horizon decayed to now)."""
    # The same numbers as ``trust`` and ``spot_check_rate``, each quantile computed once: a model's page
    # describes hundreds of servers per request.
    long = reputation.long_at(now_ms, params)
    lower, upper = long.lower_bound(params.credible_level), long.lower_bound(1.0 - params.credible_level)
    state = reputation.state(params)
    trust = 0.0 if reputation.quarantined else lower
    return {
        "state": state,
        "trust": trust,
        "interval": [lower, upper],
        "posterior": {"alpha": long.alpha, "beta": long.beta},
        "short_posterior": {"alpha": reputation.short.alpha, "beta": reputation.short.beta},
        "spot_check_rate": trusted_spot_check_rate(trust, params) if state == "trusted" else 1.0,
        "checks": reputation.checks,
        "passes": reputation.passes,
        "fails": reputation.fails,
        "consecutive_passes": reputation.consecutive_passes,
    }
