"""A server's reputation over time: its outcome and administrator events folded again, one point each.

The same pure functions as the ledger's projection (``apply_outcome`` is not needed: the server's own
prior is stored on its reputation row, so the fold starts from it), for the dashboard's plot.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from swarmtrust.ledger.events import open_event_record
from swarmtrust.ledger.models import Event, ReputationRow
from swarmtrust.ledger.reputation import (
    DEFAULT_PARAMS,
    ServerReputation,
    observe,
    outcome_weight,
    quarantine_by_admin,
    release,
)
from swarmtrust.ledger.statements import AdminAction, Outcome
from swarmtrust.protocol.beta import Beta

MAX_POINTS = 500  # the most recent events plotted


@dataclass(frozen=True)
class HistoryPoint:
    at_ms: int
    event: str  # pass, fail, quarantine or release
    lower: float  # 5% credible bound of the long posterior (trust, unless quarantined)
    mean: float
    upper: float  # 95% bound
    state: str


def reputation_history(connection: Connection, key: str) -> list[HistoryPoint]:
    row = connection.execute(select(ReputationRow).where(ReputationRow.server_key == key)).mappings().first()
    if row is None:
        return []
    events = connection.execute(
        select(Event.kind, Event.payload, Event.signer, Event.signature)
        .where(Event.subject == key, Event.kind.in_(("outcome", "admin_action")))
        .order_by(Event.seq)
    ).all()
    prior = Beta(row["prior_alpha"], row["prior_beta"])
    reputation: ServerReputation | None = None
    points: list[HistoryPoint] = []
    level = DEFAULT_PARAMS.credible_level
    for kind, payload, signer, signature in events:
        record = open_event_record(kind, payload, bytes.fromhex(signer), signature).record
        if isinstance(record, Outcome):
            at = record.decided_ms
            if reputation is None:
                reputation = ServerReputation(prior, prior, at, 0, 0, 0, 0, False)
            if record.outcome not in ("pass", "fail"):
                continue
            weight = outcome_weight(record.outcome, record.pass_weight, record.fail_weight)
            reputation = observe(reputation, record.outcome == "pass", weight, at)
            name: str = record.outcome
        elif isinstance(record, AdminAction):
            at = record.acted_ms
            if reputation is None:
                reputation = ServerReputation(prior, prior, at, 0, 0, 0, 0, False)
            reputation = quarantine_by_admin(reputation) if record.action == "quarantine" else release(reputation)
            name = record.action
        else:  # the query selects only these two kinds
            raise TypeError(f"a {kind} event in a reputation history")
        long = reputation.long_at(at)
        points.append(
            HistoryPoint(at, name, long.lower_bound(level), long.mean, long.lower_bound(1 - level), reputation.state())
        )
    return points[-MAX_POINTS:]
