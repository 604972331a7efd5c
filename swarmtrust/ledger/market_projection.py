"""The market's tables as a projection of the event log: applied on write, replayed by the audit.

Beyond matching every row, the audit checks the market's invariants on what it re-derived: no account is
below zero, and all balances together are exactly what was minted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.market_rules import FOLDED, MarketRuleError, fold_event
from swarmtrust.ledger.models import (
    AccountRow,
    EscrowHoldRow,
    MarketChallengeRow,
    MarketRecordRow,
    MovementRow,
    PriceRow,
)
from swarmtrust.ledger.projections import AuditProblem, Projection, Replay, compare_table
from swarmtrust.ledger.rowstore import MemoryRows, SqlRows, StagedRows
from swarmtrust.ledger.statements import Mint

TABLES = (
    (AccountRow, "account", "first_seq"),
    (MovementRow, "position", "event_seq"),
    (EscrowHoldRow, "hold", "opened_seq"),
    (MarketChallengeRow, "challenge_id", "opened_seq"),
    (PriceRow, "server_key", "last_seq"),
    (MarketRecordRow, "record_id", "event_seq"),
)


class MarketProjection(Projection):
    records = FOLDED

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        rows = SqlRows(connection)
        for event in events:
            fold_event(rows, event)  # MarketRuleError: the caller rolls back
        rows.flush()

    def replay(self) -> Replay:
        return _MarketReplay()


class _MarketReplay(Replay):
    def __init__(self) -> None:
        self.rows = MemoryRows()
        self.broken: list[AuditProblem] = []
        self.minted = 0

    def feed(self, event: LoggedEvent) -> None:
        staged = StagedRows(self.rows)  # an event that breaks a rule changes nothing, as on the write path
        try:
            fold_event(staged, event)
        except MarketRuleError as exc:
            self.broken.append(AuditProblem(event.seq, "market", f"the event breaks a market rule: {exc}"))
            return
        staged.commit()
        if isinstance(minted := event.record, Mint):
            self.minted += minted.amount

    def compare(self, connection: Connection) -> list[AuditProblem]:
        problems = list(self.broken)
        accounts = self.rows.tables.get(AccountRow, {})
        negative = sorted(name for name, row in accounts.items() if row["balance"] < 0)
        if negative:
            problems.append(AuditProblem(None, "accounts", f"below zero: {', '.join(negative)}"))
        total = sum(row["balance"] for row in accounts.values())
        if total != self.minted:
            problems.append(AuditProblem(None, "accounts", f"balances sum to {total}, but {self.minted} were minted"))
        for table, key, seq_column in TABLES:
            expected = self.rows.tables.get(table, {})
            problems += compare_table(connection, table, key, expected, seq_of=lambda row, c=seq_column: row[c])
        return problems
