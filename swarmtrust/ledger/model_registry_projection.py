"""Models as a fold of ``model_registration`` and ``tolerance`` events: the dtypes each model may be served in
(its latest registration, and every registration for verifiers judging older sessions), and the latest
calibrated tolerance record per (model, dtype, device kind).

"Latest" is by the record's own time (``registered_ms``, ``created_ms``), later sequence numbers winning
ties, so that a record logged late cannot roll a model back to an earlier registration.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection
from typing_extensions import assert_never

from swarmtrust.ledger.events import LoggedEvent
from swarmtrust.ledger.models import ModelRegistrationRow, ModelRow, ToleranceRow
from swarmtrust.ledger.projections import AuditProblem, Projection, Replay, compare_table
from swarmtrust.ledger.rowstore import MemoryRows, RowStore, SqlRows
from swarmtrust.protocol.model_records import ModelRegistration, ToleranceRecord


def dtypes_text(dtypes: Sequence[str]) -> str:
    """Dtypes as the tables store them: comma-separated, in registration order (the default first)."""
    return ",".join(dtypes)


def tolerance_slot(model_id: str, dtype: str, device: str) -> str:
    """The ``tolerances`` key of (model, dtype, device kind); neither dtypes nor kinds hold a colon, so the first
    two separate."""
    return f"{dtype}:{device}:{model_id}"


def fold_registration(rows: RowStore, seq: int, r: ModelRegistration) -> None:
    dtypes = dtypes_text(r.dtypes)
    rows.put(
        ModelRegistrationRow,
        {"event_seq": seq, "model_id": r.model_id, "dtypes": dtypes, "registered_ms": r.registered_ms},
    )
    stored = rows.get(ModelRow, r.model_id)
    if stored is not None and r.registered_ms < stored["registered_ms"]:
        return  # an older registration logged late: history only
    rows.put(
        ModelRow,
        {
            "model_id": r.model_id,
            "dtypes": dtypes,
            "registered_ms": r.registered_ms,
            "event_seq": seq,
            "first_seq": stored["first_seq"] if stored is not None else seq,
        },
    )


def fold_tolerance(rows: RowStore, seq: int, t: ToleranceRecord) -> None:
    slot = tolerance_slot(t.model_id, t.dtype, t.device)
    stored = rows.get(ToleranceRow, slot)
    if stored is not None and t.created_ms < stored["created_ms"]:
        return
    rows.put(
        ToleranceRow,
        {
            "slot": slot,
            "model_id": t.model_id,
            "dtype": t.dtype,
            "device": t.device,
            "hardware": t.hardware,
            "calibrator_key": t.calibrator_key.hex(),
            "created_ms": t.created_ms,
            "event_seq": seq,
        },
    )


FOLDED = (ModelRegistration, ToleranceRecord)


def fold(rows: RowStore, event: LoggedEvent) -> None:
    record = event.record
    if not isinstance(record, FOLDED):
        raise TypeError(f"the model registry does not fold a {type(record).__name__}")
    match record:  # mypy: every record type in FOLDED has its fold
        case ModelRegistration():
            fold_registration(rows, event.seq, record)
        case ToleranceRecord():
            fold_tolerance(rows, event.seq, record)
        case _:
            assert_never(record)


class ModelRegistryProjection(Projection):
    """Tables ``models``, ``model_registrations`` and ``tolerances``."""

    records = FOLDED

    def apply(self, connection: Connection, events: Sequence[LoggedEvent]) -> None:
        rows = SqlRows(connection)
        for event in events:
            fold(rows, event)
        rows.flush()

    def replay(self) -> Replay:
        return _ModelRegistryReplay()


class _ModelRegistryReplay(Replay):
    def __init__(self) -> None:
        self.rows = MemoryRows()

    def feed(self, event: LoggedEvent) -> None:
        fold(self.rows, event)

    def compare(self, connection: Connection) -> list[AuditProblem]:
        tables = self.rows.tables
        return [
            *compare_table(connection, ModelRow, "model_id", tables.get(ModelRow, {}), seq_of=lambda r: r["event_seq"]),
            *compare_table(
                connection,
                ModelRegistrationRow,
                "event_seq",
                tables.get(ModelRegistrationRow, {}),
                seq_of=lambda r: r["event_seq"],
            ),
            *compare_table(
                connection, ToleranceRow, "slot", tables.get(ToleranceRow, {}), seq_of=lambda r: r["event_seq"]
            ),
        ]
