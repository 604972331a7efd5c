"""The reputation tables as a fold of outcome (and misbehaviour) events through ``ledger.reputation`` (one fold,
two stores)."""

from __future__ import annotations

from typing import Any

from swarmtrust.ledger.models import ChallengeRow, CohortRow, ReputationRow
from swarmtrust.ledger.reputation import (
    DEFAULT_PARAMS,
    ReputationParams,
    ServerReputation,
    apply_outcome,
    newcomer,
    newcomer_prior_mean,
    outcome_weight,
    quarantine_by_admin,
    release,
)
from swarmtrust.ledger.rowstore import RowStore
from swarmtrust.ledger.statements import AdminAction, Outcome
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.misbehaviour import MisbehaviourProof, NotAProofError, check_proof
from swarmtrust.protocol.newcomers import COHORT_START

COHORT_ID = 1


def to_row(key: str, model_id: str, rep: ServerReputation, first_seq: int, last_seq: int) -> dict[str, Any]:
    return {
        "server_key": key,
        "model_id": model_id,
        "prior_alpha": rep.long.prior_alpha,
        "prior_beta": rep.long.prior_beta,
        "long_honest": rep.long.honest,
        "long_dishonest": rep.long.dishonest,
        "short_honest": rep.short.honest,
        "short_dishonest": rep.short.dishonest,
        "updated_ms": rep.updated_ms,
        "checks": rep.checks,
        "passes": rep.passes,
        "fails": rep.fails,
        "consecutive_passes": rep.consecutive_passes,
        "quarantined": rep.quarantined,
        "first_seq": first_seq,
        "last_seq": last_seq,
    }


def from_row(row: dict[str, Any]) -> ServerReputation:
    prior = (row["prior_alpha"], row["prior_beta"])
    return ServerReputation(
        long=Beta(*prior, row["long_honest"], row["long_dishonest"]),
        short=Beta(*prior, row["short_honest"], row["short_dishonest"]),
        updated_ms=row["updated_ms"],
        checks=row["checks"],
        passes=row["passes"],
        fails=row["fails"],
        consecutive_passes=row["consecutive_passes"],
        quarantined=bool(row["quarantined"]),
    )


def fold_outcome(rows: RowStore, seq: int, outcome: Outcome, params: ReputationParams = DEFAULT_PARAMS) -> None:
    """One decided challenge: the server's reputation after it (invalid evidence says nothing of the server)."""
    if outcome.outcome not in ("pass", "fail"):
        return
    challenge = rows.get(ChallengeRow, outcome.challenge_id.hex())
    weight = outcome_weight(outcome.outcome, outcome.pass_weight, outcome.fail_weight, params)
    model_id = challenge["model_id"] if challenge else None
    _observe(
        rows, seq, outcome.server_key.hex(), model_id, outcome.outcome == "pass", weight, outcome.decided_ms, params
    )


def fold_misbehaviour(
    rows: RowStore,
    seq: int,
    proof: MisbehaviourProof,
    params: ReputationParams = DEFAULT_PARAMS,
    *,
    at_ms: int | None = None,
) -> None:
    """Signed misbehaviour: a confirmed cheat of the fullest weight, exactly as a decided FAIL (so the server is
    quarantined at once), at ``at_ms``: the ledger's time of the event (``recorded_ms``). Without it, the
    proof's own ``reported_ms`` (the reporter's clock, within ``MAX_REPORT_SKEW_MS`` of the ledger's) stands
    in. A record that proves nothing changes nothing (the audit names it)."""
    try:
        found = check_proof(proof)
    except NotAProofError:
        return
    model_id = found.first.record.model_id
    when = proof.reported_ms if at_ms is None else at_ms
    _observe(rows, seq, proof.server_key.hex(), model_id, False, params.max_weight, when, params)


def _observe(
    rows: RowStore,
    seq: int,
    key: str,
    model_id: str | None,
    honest: bool,
    weight: float,
    at_ms: int,
    params: ReputationParams,
) -> None:
    """One checked session of server ``key``: its reputation and the newcomer cohort after it."""
    cohort_row = _cohort(rows)
    cohort = _cohort_beta(cohort_row)
    row = rows.get(ReputationRow, key)
    after, cohort_after = apply_outcome(
        from_row(row) if row else None, cohort, cohort_row["updated_ms"], honest, weight, at_ms, params
    )
    if cohort_after != cohort:
        rows.put(
            CohortRow,
            {
                "id": COHORT_ID,
                "prior_alpha": cohort_after.prior_alpha,
                "prior_beta": cohort_after.prior_beta,
                "honest": cohort_after.honest,
                "dishonest": cohort_after.dishonest,
                "updated_ms": max(at_ms, cohort_row["updated_ms"]),
            },
        )
    if model_id is None:
        model_id = (row or {}).get("model_id", "")
    rows.put(ReputationRow, to_row(key, model_id, after, row["first_seq"] if row else seq, seq))


def fold_admin_action(rows: RowStore, seq: int, action: AdminAction, params: ReputationParams = DEFAULT_PARAMS) -> None:
    """An administrator's quarantine or release. A server never checked starts from today's newcomer prior,
    so that a quarantine holds before its first check."""
    key = action.server_key.hex()
    row = rows.get(ReputationRow, key)
    if row is not None:
        before = from_row(row)
    else:
        cohort_row = _cohort(rows)
        elapsed = action.acted_ms - cohort_row["updated_ms"]
        before = newcomer(newcomer_prior_mean(_cohort_beta(cohort_row), elapsed, params), action.acted_ms)
    after = quarantine_by_admin(before) if action.action == "quarantine" else release(before)
    model_id = row["model_id"] if row else action.model_id
    rows.put(ReputationRow, to_row(key, model_id, after, row["first_seq"] if row else seq, seq))


def _cohort_beta(row: dict[str, Any]) -> Beta:
    return Beta(row["prior_alpha"], row["prior_beta"], row["honest"], row["dishonest"])


def _cohort(rows: RowStore) -> dict[str, Any]:
    return rows.get(CohortRow, COHORT_ID) or {
        "id": COHORT_ID,
        "prior_alpha": COHORT_START.prior_alpha,
        "prior_beta": COHORT_START.prior_beta,
        "honest": 0.0,
        "dishonest": 0.0,
        "updated_ms": 0,
    }
