"""A verifier's tolerances from the ledger's signed records: taken when valid, refused with a reason otherwise
(a bad signature, a record of another model or dtype, an untrusted calibrator, a document that does not parse),
never judged by when missing, and a local file overriding them. Pure: records are built and signed here."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.model_records import ToleranceRecord
from swarmtrust.protocol.serving_dtypes import RegistrationHistory
from swarmtrust.protocol.signing import sign_record
from swarmtrust.verifier.ledger_tolerances import (
    LEDGER_TRUST,
    CalibratorTrust,
    LedgerTolerances,
    judging_tolerances,
    open_record,
    parse_calibrator_keys,
    served_records,
)
from swarmtrust.verifier.statistics import STATISTICS
from swarmtrust.verifier.tolerance_document import ToleranceDocument, ToleranceError, Tolerances
from tests.builders import new_key

CALIBRATOR = new_key()
BF16 = RegistrationHistory.allowing("tiny", "bfloat16", "float32")


def document(model: str = "tiny", dtype: str = "bfloat16", threshold: float = 0.05) -> dict[str, Any]:
    """A format-2 document for an 8-block model, every statistic's threshold ``threshold`` per block."""
    block = dict.fromkeys(STATISTICS, threshold)
    return {"format": 2, "model": model, "dtype": dtype, "hardware": "test", "blocks": [block] * 8,
            "composition": {"factors": dict.fromkeys(STATISTICS, 1.0)},
            "crafted": {"margin": 2.0, "spans": {}}}  # fmt: skip


def record_wire(doc: dict[str, Any] | None = None, *, key: Any = CALIBRATOR, **changes: Any) -> bytes:
    doc = doc or document()
    record = ToleranceRecord(
        calibrator_key=bytes(key.verify_key), model_id=doc["model"], dtype=doc["dtype"], hardware="test",
        document=json.dumps(doc).encode(), created_ms=1_700_000_000_000,
    )  # fmt: skip
    return sign_record(record.replace(**changes), key).to_wire()


def answer(records: dict[str, bytes]) -> dict[str, Any]:
    """The ``tolerances`` part of a ``GET /models/{model_id}`` answer."""
    return {"tolerances": {dtype: {"cpu": {"record": wire.hex()}} for dtype, wire in records.items()}}


def test_a_valid_record_is_judged_by() -> None:
    tolerances, sources = judging_tolerances("tiny", {"bfloat16": record_wire()}, BF16, LEDGER_TRUST)
    assert sources["bfloat16"] == "ledger"
    span = tolerances.span("tiny", 0, 8, "bfloat16")
    assert span.thresholds.pooled_rel == pytest.approx(8 * 0.05) and "calibrator" in span.source


def test_a_dtype_without_a_record_is_not_judged_and_the_error_says_why_and_what_to_do() -> None:
    tolerances, sources = judging_tolerances("tiny", {"bfloat16": record_wire()}, BF16, LEDGER_TRUST)
    assert sources["float32"] == "none at the ledger"
    with pytest.raises(ToleranceError) as refused:
        tolerances.span("tiny", 0, 8, "float32")
    message = str(refused.value)
    assert "the ledger serves no tolerance record for tiny float32" in message
    assert "swarmtrust verifier sign-tolerance" in message and "--tolerances FILE" in message


def test_an_unregistered_model_has_no_tolerances_and_says_so() -> None:
    tolerances, _ = judging_tolerances("tiny", {}, RegistrationHistory("tiny"), LEDGER_TRUST)
    with pytest.raises(ToleranceError, match="model tiny is not registered at the ledger"):
        tolerances.span("tiny", 0, 4, "float32")


def flipped_signature(wire: bytes) -> bytes:
    return wire[:-1] + bytes([wire[-1] ^ 1])


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (flipped_signature(record_wire()), "not a validly signed tolerance record"),
        (record_wire(document(model="other"), model_id="other"), "the record is for other bfloat16"),
        (record_wire(document(dtype="float32"), dtype="float32"), "the record is for tiny float32"),
        (record_wire({"format": 1, "model": "tiny", "dtype": "bfloat16"}), "not a tolerance document of format 2"),
        (record_wire(document() | {"blocks": [{"pooled_rel": "x"}]}), "bad thresholds"),
        (b"\x92\xc4\x01x", "not a validly signed tolerance record"),
    ],
    ids=["bad-signature", "other-model", "other-dtype", "format-1", "bad-thresholds", "garbage"],
)
def test_a_bad_record_is_refused_with_its_reason_and_nothing_else_changes(wire: bytes, reason: str) -> None:
    good = record_wire(document(dtype="float32"), dtype="float32")
    tolerances, sources = judging_tolerances("tiny", {"bfloat16": wire, "float32": good}, BF16, LEDGER_TRUST)
    assert sources["bfloat16"].startswith("refused") and reason in sources["bfloat16"]
    with pytest.raises(ToleranceError) as refused:
        tolerances.span("tiny", 0, 8, "bfloat16")
    assert "the ledger's record was refused" in str(refused.value) and reason in str(refused.value)
    assert tolerances.span("tiny", 0, 8, "float32").thresholds.pooled_rel == pytest.approx(0.4), "the other dtype"


def test_pinned_calibrators_refuse_records_of_others() -> None:
    mallory = new_key()
    wire = record_wire(key=mallory)
    open_record(wire, "tiny", "bfloat16", LEDGER_TRUST)  # the ledger's choice: taken
    pinned = CalibratorTrust(frozenset({bytes(CALIBRATOR.verify_key)}))
    with pytest.raises(ToleranceError, match="which this verifier does not trust"):
        open_record(wire, "tiny", "bfloat16", pinned)
    assert open_record(record_wire(), "tiny", "bfloat16", pinned).dtype == "bfloat16"


def test_a_record_of_a_dtype_never_registered_is_ignored() -> None:
    only_float32 = RegistrationHistory.allowing("tiny", "float32")
    tolerances, sources = judging_tolerances("tiny", {"bfloat16": record_wire()}, only_float32, LEDGER_TRUST)
    assert sources["bfloat16"].startswith("ignored") and tolerances.dtypes("tiny") == set()


def test_a_local_file_overrides_the_ledger_for_the_pairs_it_holds(caplog: pytest.LogCaptureFixture) -> None:
    local = Tolerances([ToleranceDocument.parse(document(threshold=0.5), "local.json")])
    book = LedgerTolerances("tiny", LEDGER_TRUST, local)
    records = {"bfloat16": record_wire(), "float32": record_wire(document(dtype="float32"), dtype="float32")}
    with caplog.at_level(logging.INFO, logger="swarmtrust.verifier.ledger_tolerances"):
        tolerances = book.update(answer(records), BF16)
        book.update(answer(records), BF16)  # unchanged: nothing logged again
    assert tolerances.span("tiny", 0, 8, "bfloat16").thresholds.pooled_rel == pytest.approx(4.0), "the local one"
    assert tolerances.span("tiny", 0, 8, "float32").source.startswith("ledger record"), "the ledger's elsewhere"
    logged = [r.getMessage() for r in caplog.records]
    assert sum("overridden by --tolerances" in line for line in logged) == 1
    assert sum("judging tiny float32 by the ledger's tolerance record" in line for line in logged) == 1


def test_a_refused_record_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    book = LedgerTolerances("tiny", LEDGER_TRUST)
    with caplog.at_level(logging.WARNING, logger="swarmtrust.verifier.ledger_tolerances"):
        for _ in range(3):
            book.update(answer({"bfloat16": flipped_signature(record_wire())}), BF16)
    refusals = [r.getMessage() for r in caplog.records if "cannot judge tiny bfloat16" in r.getMessage()]
    assert len(refusals) == 1 and "not a validly signed tolerance record" in refusals[0]


def test_calibrator_keys_must_be_32_bytes_of_hex() -> None:
    key = bytes(CALIBRATOR.verify_key)
    assert parse_calibrator_keys([key.hex(), key.hex().upper()]).pinned == frozenset({key})
    for bad in ("", "zz" * 32, key.hex()[:-2]):
        with pytest.raises(ValueError, match="expected 64 hex digits"):
            parse_calibrator_keys([bad])


def test_a_malformed_answer_is_a_wire_format_error() -> None:
    from swarmtrust.protocol.errors import WireFormatError

    assert served_records(None) == {}
    for bad in (
        {"tolerances": {"bfloat16": {"cpu": {}}}},
        {"tolerances": {"bfloat16": {"cpu": {"record": "xyz"}}}},
        {"tolerances": {"bfloat16": 3}},
        {"tolerances": 3},
    ):
        with pytest.raises(WireFormatError, match="malformed tolerances answer"):
            served_records(bad)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["float32", "float16"]))
def test_any_bytes_served_as_a_record_are_refused_never_crash(wire: bytes, dtype: str) -> None:
    """Whatever a ledger (or anything between it and the verifier) serves as a record, the verifier refuses it
    with a ToleranceError, and the other dtypes stay as they were."""
    history = RegistrationHistory.allowing("tiny", "float32", "bfloat16", "float16")
    tolerances, sources = judging_tolerances("tiny", {dtype: wire, "bfloat16": record_wire()}, history, LEDGER_TRUST)
    assert sources[dtype].startswith("refused")
    with pytest.raises(ToleranceError):
        tolerances.span("tiny", 0, 8, dtype)
    assert sources["bfloat16"] == "ledger" and tolerances.span("tiny", 0, 8, "bfloat16").dtype == "bfloat16"
