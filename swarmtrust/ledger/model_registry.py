"""Models' registrations and calibrated tolerances: the write path (ledger-signed registrations, calibrator-
signed tolerance records) and the reads the API and the CLI answer with.

A registration names the dtypes a model may be served in, the default first (``protocol.serving_dtypes`` says
who follows it and how). Registering the dtypes already in force records nothing, so a launcher that
registers at every start does not grow the log. Tolerance records are signed by whoever calibrated them;
only an administrator submits one (the API's admin route, the CLI with the database), and the ledger keeps
the latest per (model, dtype, device kind of its replays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.signing
from sqlalchemy import Connection, Engine, select

from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.eventlog import Clock, now_ms, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.model_registry_projection import dtypes_text
from swarmtrust.ledger.models import Event, ModelRegistrationRow, ModelRow, ToleranceRow
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.digests import dtype_named
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.model_records import ModelRegistration, ToleranceRecord
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

MAX_CLOCK_SKEW_MS = 5 * 60_000  # a tolerance record dated further in the future than this is refused


@dataclass(frozen=True)
class Registered:
    status: str  # recorded (a new event), or unchanged (those dtypes were in force already)
    seq: int  # the event that registers the model as asked


def register_model(
    engine: Engine,
    ledger_key: nacl.signing.SigningKey,
    *,
    model_id: str,
    dtypes: Sequence[str],
    clock: Clock = now_ms,
) -> Registered:
    """Register ``model_id`` for ``dtypes`` (the first the default), signed by the ledger; RequestRefusedError
    ``bad_registration`` (nothing written) for a model id or dtypes no registration can hold."""
    try:
        record = ModelRegistration(bytes(ledger_key.verify_key), model_id, tuple(map(dtype_named, dtypes)), clock())
    except WireFormatError as exc:
        raise RequestRefusedError("bad_registration", str(exc)) from None
    with open_writer(engine, clock) as writer:
        stored = writer.connection.execute(select(ModelRow).where(ModelRow.model_id == model_id)).first()
        if stored is not None and stored.dtypes == dtypes_text(record.dtypes):
            return Registered("unchanged", stored.event_seq)
        (event,) = writer.append([EventDraft("model_registration", sign_record(record, ledger_key))])
    return Registered("recorded", event.seq)


def open_tolerance(wire: bytes) -> Signed[ToleranceRecord]:
    """A signed tolerance record from its envelope; RequestRefusedError ``bad_tolerance`` for anything else."""
    try:
        return open_signed(ToleranceRecord, wire)
    except (WireFormatError, SignatureError) as exc:
        raise RequestRefusedError("bad_tolerance", f"expected a signed tolerance record: {exc}") from None


def add_tolerance(engine: Engine, wire: bytes, *, clock: Clock = now_ms) -> Registered:
    """Log a calibrator's signed tolerance record (any valid signature: the caller decides who may submit);
    ``unchanged`` when it is the record already in force for its (model, dtype, device kind)."""
    signed = open_tolerance(wire)
    record = signed.record
    now = clock()
    if record.created_ms > now + MAX_CLOCK_SKEW_MS:
        raise RequestRefusedError("clock_skew", "the tolerance record is dated in the future; check the signer's clock")
    with open_writer(engine, clock) as writer:
        connection = writer.connection
        stored = connection.execute(
            select(ToleranceRow.event_seq, Event.payload)
            .join(Event, Event.seq == ToleranceRow.event_seq)
            .where(
                ToleranceRow.model_id == record.model_id,
                ToleranceRow.dtype == record.dtype,
                ToleranceRow.device == record.device,
            )
        ).first()
        if stored is not None and bytes(stored.payload) == signed.body:
            return Registered("unchanged", stored.event_seq)
        (event,) = writer.append([EventDraft("tolerance", signed)])
    return Registered("recorded", event.seq)


# --- reads -------------------------------------------------------------------------------------------


def model_view(connection: Connection, model_id: str) -> dict[str, Any] | None:
    """What ``GET /models/{model_id}`` answers; None for a model never registered."""
    views = _views(connection, [model_id])
    return views[0] if views else None


def list_models(connection: Connection) -> list[dict[str, Any]]:
    """Every registered model's view, by model id."""
    ids = connection.execute(select(ModelRow.model_id).order_by(ModelRow.model_id)).scalars().all()
    return _views(connection, list(ids))


def tolerance_wire(connection: Connection, model_id: str, dtype: str, device: str) -> bytes | None:
    """The signed envelope of the latest tolerance record for (``model_id``, ``dtype``) replayed on a ``device``
    kind; None when none was added."""
    seq = connection.execute(
        select(ToleranceRow.event_seq).where(
            ToleranceRow.model_id == model_id, ToleranceRow.dtype == dtype, ToleranceRow.device == device
        )
    ).scalar()
    if seq is None:
        return None
    return bytes.fromhex(_wires(connection, {seq})[seq])


def _tolerances_by_dtype(rows: list[Any], wires: dict[int, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """A model's tolerance records as served: by dtype, then by the device kind their replays ran on."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for t in rows:
        found.setdefault(t["dtype"], {})[t["device"]] = {
            "hardware": t["hardware"],
            "calibrator_key": t["calibrator_key"],
            "created_ms": t["created_ms"],
            "record": wires[t["event_seq"]],
        }
    return found


def _views(connection: Connection, model_ids: list[str]) -> list[dict[str, Any]]:
    if not model_ids:
        return []
    models = connection.execute(select(ModelRow).where(ModelRow.model_id.in_(model_ids))).mappings().all()
    history = (
        connection.execute(
            select(ModelRegistrationRow)
            .where(ModelRegistrationRow.model_id.in_(model_ids))
            .order_by(ModelRegistrationRow.registered_ms, ModelRegistrationRow.event_seq)
        )
        .mappings()
        .all()
    )
    tolerances = (
        connection.execute(
            select(ToleranceRow)
            .where(ToleranceRow.model_id.in_(model_ids))
            .order_by(ToleranceRow.dtype, ToleranceRow.device)
        )
        .mappings()
        .all()
    )
    seqs = {row["event_seq"] for row in [*history, *tolerances]}
    wires = _wires(connection, seqs)
    views = []
    for model in sorted(models, key=lambda m: m["model_id"]):
        mid = model["model_id"]
        views.append(
            {
                "model_id": mid,
                "dtypes": model["dtypes"].split(","),
                "registered_ms": model["registered_ms"],
                "registration": wires[model["event_seq"]],
                "history": [
                    {
                        "dtypes": h["dtypes"].split(","),
                        "registered_ms": h["registered_ms"],
                        "record": wires[h["event_seq"]],
                    }
                    for h in history
                    if h["model_id"] == mid
                ],
                "tolerances": _tolerances_by_dtype([t for t in tolerances if t["model_id"] == mid], wires),
            }
        )
    return views


def _wires(connection: Connection, seqs: set[int]) -> dict[int, str]:
    """The signed envelopes of events, hex, by sequence number."""
    rows = connection.execute(select(Event.seq, Event.payload, Event.signature).where(Event.seq.in_(seqs)))
    return {row.seq: pack([bytes(row.payload), bytes(row.signature)]).hex() for row in rows}
