"""A ledger written before the wire records moved to msgspec (the demo's ledger at commit 463c017, with the
hand-made record framework) opens and audits clean with today's code: every stored event's record decodes,
its signature verifies, it re-encodes to the very bytes stored, and the derived tables re-derive the same. It was
written at schema revision 0009, so it is upgraded first, as an operator would (``swarmtrust ledger upgrade``):
the tolerance rows the upgrade re-keys by device kind must be those the events derive."""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import create_engine, select

from swarmtrust.ledger.events import open_event_record
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.models import Event
from swarmtrust.ledger.store import Ledger

FIXTURE = Path(__file__).parent / "data" / "ledger-463c017.db.gz"  # the demo's, replay-protection rows dropped


def test_a_ledger_written_before_msgspec_audits_clean_and_keeps_its_bytes(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    database.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    engine = create_engine(f"sqlite:///{database}")
    try:
        assert upgrade(engine)[0] == "0009"
        with engine.connect() as connection:
            slots = connection.exec_driver_sql("SELECT slot, device FROM tolerances ORDER BY slot").all()
    finally:
        engine.dispose()
    assert slots and all(slot.split(":")[1] == device == "cpu" for slot, device in slots), slots
    with Ledger.open(f"sqlite:///{database}") as ledger:
        with ledger.engine.connect() as connection:
            events = connection.execute(select(Event.__table__).order_by(Event.seq)).mappings().all()
        kinds = {event["kind"] for event in events}
        assert len(events) == 575 and {"receipt", "challenge", "verdict", "outcome", "payment"} <= kinds
        for event in events:
            kind, payload, seq = event["kind"], event["payload"], event["seq"]
            signed = open_event_record(kind, payload, bytes.fromhex(event["signer"]), event["signature"])
            assert signed.record.encode() == payload, f"event {seq} ({kind}) re-encodes otherwise"
        report = ledger.audit()
    assert report.ok, report.problems[:3]
    assert report.events_checked == len(events)
