"""Derived tables of the audit coins (``audit_seeds``, ``audit_draws``) and the audit's check of every coin.

The folds run on the write path and in the audit's replay alike (``ledger.spotcheck_projection`` registers
them). The check needs no secret: once an epoch's seed is revealed, every coin drawn from it is recomputed
(``ledger.beacon``); until then the coin is reported as awaiting its reveal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarmtrust.ledger.beacon import coin_epoch, effective_coin, seed_commitment
from swarmtrust.ledger.models import AssignmentRow, AuditDrawRow, AuditSeedRow
from swarmtrust.ledger.projections import AuditProblem
from swarmtrust.ledger.rowstore import RowStore
from swarmtrust.ledger.statements import AuditDraw, SeedCommitment, SeedReveal


def fold_seed_commitment(rows: RowStore, seq: int, c: SeedCommitment) -> None:
    row = rows.get(AuditSeedRow, c.epoch)
    if row is None:
        row = {"epoch": c.epoch, "seed": None, "revealed_seq": None, "state": "committed"}
        rows.put(AuditSeedRow, row | {"commitment": c.commitment.hex(), "committed_seq": seq})
    elif row["commitment"] != c.commitment.hex():  # a second commitment, or one after the reveal
        rows.put(AuditSeedRow, row | {"state": "conflict"})


def fold_seed_reveal(rows: RowStore, seq: int, r: SeedReveal) -> None:
    row = rows.get(AuditSeedRow, r.epoch)
    if row is None:  # revealed without a commitment
        row = {"epoch": r.epoch, "commitment": None, "committed_seq": None, "state": "conflict"}
        rows.put(AuditSeedRow, row | {"seed": r.seed.hex(), "revealed_seq": seq})
        return
    if row["seed"] is not None:
        if row["seed"] != r.seed.hex():
            rows.put(AuditSeedRow, row | {"state": "conflict"})
        return
    opens = row["commitment"] == seed_commitment(r.epoch, r.seed).hex()
    state = "revealed" if opens and row["state"] == "committed" else "conflict"
    rows.put(AuditSeedRow, row | {"seed": r.seed.hex(), "revealed_seq": seq, "state": state})


def fold_audit_draw(rows: RowStore, seq: int, d: AuditDraw) -> None:
    if rows.get(AuditDrawRow, d.assignment_id.hex()) is not None:
        return  # one coin per pass: a second draw changes nothing (and the check below sees the first)
    rows.put(
        AuditDrawRow,
        {
            "assignment_id": d.assignment_id.hex(),
            "event_seq": seq,
            "challenge_id": d.challenge_id.hex(),
            "verifier_key": d.verifier_key.hex(),
            "server_key": d.server_key.hex(),
            "verdict_digest": d.verdict_digest.hex(),
            "epoch": d.epoch,
            "coin": d.coin,
            "chance": d.chance,
            "follow": d.follow,
        },
    )


@dataclass(frozen=True)
class VerdictSeen:
    """What the audit's replay remembers of each verdict event, for the coin check."""

    seq: int
    digest: str  # hex digest of the signed verdict


@dataclass
class CoinCheck:
    problems: list[AuditProblem]
    checked: int  # coins recomputed from a revealed seed (or forced)
    awaiting_reveal: int  # coins whose seed is committed but not revealed yet


def check_coins(
    tables: Mapping[type[Any], Mapping[Any, dict[str, Any]]], verdicts: Mapping[str, VerdictSeen]
) -> CoinCheck:
    """Every seed opens its commitment, and every coin is the one its seed and verdict give (once revealed)."""
    seeds, draws = tables.get(AuditSeedRow, {}), tables.get(AuditDrawRow, {})
    assignments = tables.get(AssignmentRow, {})
    result = CoinCheck([], 0, 0)
    for epoch, seed_row in seeds.items():
        if seed_row["state"] == "conflict":
            seq = seed_row["revealed_seq"] or seed_row["committed_seq"]
            result.problems.append(
                AuditProblem(seq, f"audit_seeds[{epoch}]", "the seed was committed twice, revealed twice or revealed "
                             "without opening its commitment: the ledger could have chosen coins")
            )  # fmt: skip
    for aid, draw in draws.items():
        where, seq = f"audit_draws[{aid}]", draw["event_seq"]
        assignment, verdict = assignments.get(aid), verdicts.get(aid)
        if assignment is None or verdict is None or verdict.seq > seq:
            result.problems.append(AuditProblem(seq, where, "a coin drawn for a pass that is not recorded before it"))
            continue
        if (assignment["verifier_key"], assignment["round"]) != (draw["verifier_key"], "initial"):
            result.problems.append(AuditProblem(seq, where, "a coin drawn for another verifier or round"))
            continue
        if verdict.digest != draw["verdict_digest"] or coin_epoch(assignment["assigned_ms"]) != draw["epoch"]:
            result.problems.append(AuditProblem(seq, where, "the coin names another verdict or epoch than its pass"))
            continue
        seed_row = seeds.get(draw["epoch"]) or {"state": "absent", "committed_seq": None, "seed": None}
        committed_seq, revealed_seq = seed_row["committed_seq"], seed_row.get("revealed_seq")
        in_time = (
            seed_row["state"] != "conflict" and committed_seq is not None and committed_seq < assignment["event_seq"]
        )
        if in_time and seed_row["seed"] is None:
            result.awaiting_reveal += 1
            continue
        revealed_before = revealed_seq is not None and revealed_seq < seq
        seed = bytes.fromhex(seed_row["seed"]) if seed_row["seed"] else bytes(32)
        expected = effective_coin(
            seed, bytes.fromhex(draw["verdict_digest"]), committed_in_time=in_time, revealed_before=revealed_before
        )
        result.checked += 1
        if expected != draw["coin"]:
            result.problems.append(
                AuditProblem(seq, where, f"the coin was {draw['coin']!r}; the revealed seed gives {expected!r}")
            )
    return result
