"""Model registrations and tolerance records in the ledger: write path, derived tables, history, audit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.model_registry import add_tolerance, register_model
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.model_records import ModelRegistration, ToleranceRecord
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.builders import new_key
from tests.ledger.tampering import scalar, tamper

LEDGER_KEY = new_key()
CALIBRATOR = new_key()


class Clock:
    def __init__(self, now: int = 1_795_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def tolerance_wire(dtype: str = "float32", created_ms: int = 1_795_000_000_000, **extra: Any) -> bytes:
    doc = json.dumps({"model": "tiny", "dtype": dtype, **extra}).encode()
    record = ToleranceRecord(bytes(CALIBRATOR.verify_key), "tiny", dtype, "cpu x86_64 torch 2.13.0", doc, created_ms)
    return sign_record(record, CALIBRATOR).to_wire()


def events(ledger: Ledger) -> int:
    return int(scalar(ledger, "SELECT count(*) FROM events"))  # type: ignore[arg-type]


def test_a_model_is_registered_its_history_kept_and_the_audit_replays_it(ledger: Ledger) -> None:
    clock = Clock()
    first = register_model(ledger.engine, LEDGER_KEY, model_id="tiny", dtypes=["float32"], clock=clock)
    assert first.status == "recorded"
    clock.now += 1000
    again = register_model(ledger.engine, LEDGER_KEY, model_id="tiny", dtypes=["float32"], clock=clock)
    assert (again.status, again.seq, events(ledger)) == ("unchanged", first.seq, 1), "nothing new: nothing logged"
    clock.now += 1000
    widened = register_model(ledger.engine, LEDGER_KEY, model_id="tiny", dtypes=["bfloat16", "float32"], clock=clock)
    assert widened.status == "recorded"
    view = ledger.model("tiny")
    assert view is not None
    assert (view["dtypes"], view["registered_ms"]) == (["bfloat16", "float32"], clock.now)
    assert [h["dtypes"] for h in view["history"]] == [["float32"], ["bfloat16", "float32"]]
    signed = open_signed(ModelRegistration, bytes.fromhex(view["registration"]))
    assert signed.signer == bytes(LEDGER_KEY.verify_key) and signed.record.dtypes == ("bfloat16", "float32")
    assert ledger.model("other") is None and [m["model_id"] for m in ledger.models()] == ["tiny"]
    report = ledger.audit()
    assert report.ok, report.problems
    assert report.kinds["model_registration"] == 2


def test_an_older_registration_logged_late_stays_history_only(ledger: Ledger) -> None:
    register_model(ledger.engine, LEDGER_KEY, model_id="tiny", dtypes=["float32"], clock=Clock(2_000))
    register_model(ledger.engine, LEDGER_KEY, model_id="tiny", dtypes=["bfloat16"], clock=Clock(1_000))
    view = ledger.model("tiny")
    assert view is not None and view["dtypes"] == ["float32"]
    assert [(h["registered_ms"], h["dtypes"]) for h in view["history"]] == [(1_000, ["bfloat16"]), (2_000, ["float32"])]
    assert ledger.audit().ok


@pytest.mark.parametrize(
    ("model_id", "dtypes", "message"),
    [
        ("tiny", [], "name 1 to 4"),
        ("tiny", ["float64"], "expected one of"),
        ("tiny", ["float32", "float32"], "repeat one"),
        ("", ["float32"], "length >= 1"),
        ("ti\x00ny", ["float32"], "control character"),
    ],
)
def test_a_bad_registration_is_refused_and_nothing_is_written(
    ledger: Ledger, model_id: str, dtypes: list[str], message: str
) -> None:
    with pytest.raises(RequestRefusedError, match=message) as refused:
        ledger.register_model(LEDGER_KEY, model_id, dtypes)
    assert refused.value.code == "bad_registration"
    assert events(ledger) == 0 and scalar(ledger, "SELECT count(*) FROM models") == 0


def test_tolerances_keep_the_latest_per_model_dtype_and_device_kind(ledger: Ledger) -> None:
    clock = Clock()
    first = add_tolerance(ledger.engine, tolerance_wire(created_ms=clock.now - 10), clock=clock)
    assert first.status == "recorded"
    assert add_tolerance(ledger.engine, tolerance_wire(created_ms=clock.now - 10), clock=clock).status == "unchanged"
    newer = add_tolerance(ledger.engine, tolerance_wire(created_ms=clock.now, fitted="again"), clock=clock)
    add_tolerance(ledger.engine, tolerance_wire(created_ms=clock.now - 20, fitted="stale"), clock=clock)
    add_tolerance(ledger.engine, tolerance_wire("bfloat16", created_ms=clock.now), clock=clock)
    # replays on a GPU: kept beside the CPU's record, not in its place, though older
    on_gpu = add_tolerance(ledger.engine, tolerance_wire(created_ms=clock.now - 30, device="cuda"), clock=clock)
    assert events(ledger) == 5
    ledger.register_model(LEDGER_KEY, "tiny", ["float32"])
    view = ledger.model("tiny")
    assert view is not None and {d: sorted(v) for d, v in view["tolerances"].items()} == {
        "bfloat16": ["cpu"],
        "float32": ["cpu", "cuda"],
    }
    assert scalar(ledger, "SELECT event_seq FROM tolerances WHERE device = 'cuda'") == on_gpu.seq
    kept = view["tolerances"]["float32"]["cpu"]
    assert kept["created_ms"] == clock.now and kept["calibrator_key"] == bytes(CALIBRATOR.verify_key).hex()
    record = open_signed(ToleranceRecord, bytes.fromhex(kept["record"])).record
    assert json.loads(record.document)["fitted"] == "again", "the later record, not the one logged last"
    assert scalar(ledger, "SELECT event_seq FROM tolerances WHERE dtype = 'float32' AND device = 'cpu'") == newer.seq
    assert ledger.audit().ok


def test_bad_tolerance_records_are_refused_and_nothing_is_written(ledger: Ledger) -> None:
    wire = bytearray(tolerance_wire())
    wire[-1] ^= 1
    for bad in (bytes(wire), b"", b"\x92\xc4\x01x\xc4\x01y", b"\x80"):
        with pytest.raises(RequestRefusedError, match="signed tolerance record") as refused:
            ledger.add_tolerance(bad)
        assert refused.value.code == "bad_tolerance"
    with pytest.raises(RequestRefusedError, match="future") as refused:
        add_tolerance(ledger.engine, tolerance_wire(created_ms=4_000_000_000_000), clock=Clock())
    assert refused.value.code == "clock_skew"
    assert events(ledger) == 0 and scalar(ledger, "SELECT count(*) FROM tolerances") == 0


def test_altered_model_rows_are_caught_by_the_audit(ledger: Ledger) -> None:
    ledger.register_model(LEDGER_KEY, "tiny", ["float32"])
    ledger.add_tolerance(tolerance_wire(created_ms=1))
    tamper(ledger, "UPDATE models SET dtypes = 'bfloat16'", "UPDATE tolerances SET hardware = 'gpu'")
    tamper(ledger, "UPDATE model_registrations SET dtypes = 'bfloat16,float32'")
    report = ledger.audit()
    assert not report.ok
    wheres = {p.where.split("[")[0] for p in report.problems}
    assert wheres == {"models", "model_registrations", "tolerances"}
    assert report.first_bad_seq == 1


def test_a_registration_the_ledger_did_not_log_is_caught_by_the_audit(ledger: Ledger) -> None:
    ledger.register_model(LEDGER_KEY, "tiny", ["float32"])
    tamper(
        ledger,
        "INSERT INTO models (model_id, dtypes, registered_ms, event_seq, first_seq) VALUES ('x', 'float16', 5, 1, 1)",
    )
    report = ledger.audit()
    assert any(p.where == "models[x]" and "not derived" in p.message for p in report.problems)
