"""Model registrations and tolerance records: what they hold, and every malformed field refused clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.model_records import (
    MAX_TOLERANCE_DOCUMENT,
    SERVING_DTYPES,
    ModelRegistration,
    ToleranceRecord,
)
from swarmtrust.protocol.records import free_of_controls
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.builders import new_key

LEDGER = new_key()
CALIBRATOR = new_key()


def document(model: Any = "tiny", dtype: Any = "float32", **extra: Any) -> bytes:
    return json.dumps({"model": model, "dtype": dtype, **extra}).encode()


def tolerance(**overrides: Any) -> ToleranceRecord:
    fields: dict[str, Any] = {
        "calibrator_key": bytes(CALIBRATOR.verify_key),
        "model_id": "tiny",
        "dtype": "float32",
        "hardware": "cpu x86_64 torch 2.13.0",
        "document": document(),
        "created_ms": 1_795_000_000_000,
    }
    return ToleranceRecord(**(fields | overrides))


def test_a_registration_round_trips_signed_and_keeps_its_default_first() -> None:
    record = ModelRegistration(bytes(LEDGER.verify_key), "tiny", ("bfloat16", "float32"), 1_795_000_000_000)
    opened = open_signed(ModelRegistration, sign_record(record, LEDGER).to_wire())
    assert opened.record == record and opened.record.dtypes[0] == "bfloat16"


def test_a_tolerance_record_round_trips_and_its_document_stays_opaque() -> None:
    record = tolerance(document=document(thresholds={"any": [1, 2]}, format=2))
    opened = open_signed(ToleranceRecord, sign_record(record, CALIBRATOR).to_wire())
    assert opened.record.document == record.document


def test_a_tampered_or_foreign_signature_is_refused() -> None:
    wire = bytearray(sign_record(tolerance(), CALIBRATOR).to_wire())
    wire[-1] ^= 1
    with pytest.raises(SignatureError):
        open_signed(ToleranceRecord, bytes(wire))
    with pytest.raises(ValueError, match="names signer"):
        sign_record(tolerance(), LEDGER)


dtype_lists = st.lists(st.sampled_from([*SERVING_DTYPES, "float64", "int8", "", "FLOAT32"]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(dtypes=dtype_lists, model_id=st.text(max_size=210), registered_ms=st.integers(-5, 2**64))
def test_any_registration_is_valid_exactly_when_its_fields_are(
    dtypes: list[str], model_id: str, registered_ms: int
) -> None:
    valid = (
        1 <= len(dtypes) <= 4
        and len(set(dtypes)) == len(dtypes)
        and set(dtypes) <= set(SERVING_DTYPES)
        and 1 <= len(model_id) <= 200
        and free_of_controls(model_id)
        and 0 <= registered_ms <= 253_402_300_799_999
    )
    try:
        record = ModelRegistration(bytes(LEDGER.verify_key), model_id, tuple(dtypes), registered_ms)
    except WireFormatError as exc:
        assert not valid, f"refused a valid registration: {exc}"
        assert str(exc).startswith("ModelRegistration"), "the error names the record"
        return
    assert valid, "accepted an invalid registration"
    assert ModelRegistration.decode(record.encode()) == record


@pytest.mark.parametrize(
    ("dtypes", "message"),
    [
        ((), "name 1 to 4 dtypes"),
        (("float32", "float32"), "repeat one"),
        (("float64",), "expected one of"),
        (("float32", "bfloat16", "float16", "float32", "bfloat16"), "length <= 4"),
    ],
)
def test_bad_dtypes_are_refused_with_what_to_do(dtypes: tuple[str, ...], message: str) -> None:
    with pytest.raises(WireFormatError, match=message):
        ModelRegistration(bytes(LEDGER.verify_key), "tiny", dtypes, 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"document": b"not json"}, "not UTF-8 JSON"),
        ({"document": b"\xff\xfe"}, "not UTF-8 JSON"),
        ({"document": b"[1, 2]"}, "expected a JSON object"),
        ({"document": document(model="other")}, "document's 'model' is 'other'"),
        ({"document": document(dtype="bfloat16")}, "document's 'dtype' is 'bfloat16'"),
        ({"document": json.dumps({"dtype": "float32"}).encode()}, "document's 'model' is None"),
        ({"document": b""}, "length >= 1"),
        ({"document": b" " * (MAX_TOLERANCE_DOCUMENT + 1)}, "length <= "),
        ({"document": "text"}, "got `str`"),
        ({"dtype": "int8"}, "expected one of"),
        ({"hardware": ""}, "length >= 1"),
        ({"hardware": "cpu\x1b[31m"}, "control character"),
        ({"model_id": "x" * 201}, "length <= 200"),
        ({"created_ms": -1}, ">= 0"),
    ],
)
def test_bad_tolerance_records_are_refused_with_a_clear_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(WireFormatError, match=message):
        tolerance(**overrides)


@settings(max_examples=200, deadline=None)
@given(
    model=st.one_of(st.text(max_size=8), st.integers(), st.none()),
    dtype=st.one_of(st.sampled_from(SERVING_DTYPES), st.text(max_size=8)),
    hardware=st.text(max_size=130),
)
def test_any_tolerance_record_is_valid_exactly_when_it_describes_itself(model: Any, dtype: str, hardware: str) -> None:
    valid = model == "tiny" and dtype == "float32" and 1 <= len(hardware) <= 120 and free_of_controls(hardware)
    try:
        record = tolerance(document=document(model=model, dtype=dtype), hardware=hardware)
    except WireFormatError:
        assert not valid
        return
    assert valid, "accepted an invalid tolerance record"
    assert ToleranceRecord.decode(record.encode()) == record


def test_decoding_a_registration_that_lies_about_its_dtypes_is_refused() -> None:
    """The checks hold on the wire too, not only when a record is built here."""
    good = ModelRegistration(bytes(LEDGER.verify_key), "tiny", ("float32",), 1).encode()
    forged = good.replace(b"\x91\xa7float32", b"\x92\xa7float32\xa7float32")
    with pytest.raises(WireFormatError, match="repeat one"):
        ModelRegistration.decode(forged)
