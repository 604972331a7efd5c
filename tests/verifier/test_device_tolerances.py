"""Tolerances keyed by (model, dtype, device kind of the verifier's replays): a verifier takes the document
calibrated for the device it replays on, never another kind's, and a document says which device kinds its honest
servers ran on. Pure: documents and records are built and signed here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from swarmtrust.cli import app
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.model_records import ToleranceRecord
from swarmtrust.verifier.escalation import DEFAULT_ESCALATION, exact_refusal, measured_record
from swarmtrust.verifier.ledger_tolerances import LEDGER_TRUST, judging_tolerances, open_record, served_records
from swarmtrust.verifier.tolerance_document import ToleranceDocument, ToleranceError, Tolerances, documents_in
from swarmtrust.verifier.tolerance_records import CalibrationFileError, select_document, sign_tolerance
from tests.verifier.test_ledger_tolerances import BF16, CALIBRATOR, answer, document, record_wire


def on(device: str, threshold: float, **fields: Any) -> dict[str, Any]:
    return document(threshold=threshold) | {"device": device} | fields


def test_each_device_kind_has_its_own_document_and_a_verifier_takes_its_own() -> None:
    tolerances = Tolerances(documents_in([on("cpu", 0.01), on("cuda", 0.02, servers=["cpu", "cuda"])], "test"))
    assert tolerances.dtypes("tiny", "cpu") == tolerances.dtypes("tiny", "cuda") == {"bfloat16"}
    assert tolerances.span("tiny", 0, 1, "bfloat16", device="cpu").thresholds.pooled_rel == pytest.approx(0.01)
    assert tolerances.span("tiny", 0, 1, "bfloat16", device="cuda").thresholds.pooled_rel == pytest.approx(0.02)
    only_cpu = Tolerances(documents_in([document()], "test"))  # no "device": calibrated on the CPU
    with pytest.raises(ToleranceError, match="replayed on cuda") as refused:
        only_cpu.span("tiny", 0, 1, "bfloat16", device="cuda")
    assert "--device cuda" in str(refused.value), "the error says how to calibrate for it"


def test_a_document_names_known_device_kinds_or_is_refused() -> None:
    parsed = ToleranceDocument.parse(on("cuda", 0.01, servers=["cuda", "cpu", "cuda"]), "test")
    assert (parsed.device, parsed.servers) == ("cuda", ("cpu", "cuda"))
    assert ToleranceDocument.parse(document(), "test").servers == ("cpu",)
    for bad in (
        on("tpu", 0.01),
        on("cpu", 0.01, servers=[]),
        on("cpu", 0.01, servers=["rocm"]),
        on("cpu", 0.01, servers="cpu"),
    ):
        with pytest.raises(ToleranceError, match="device"):
            ToleranceDocument.parse(bad, "test")
    with pytest.raises(ToleranceError, match="two tolerance documents"):
        Tolerances(documents_in([on("cuda", 0.01), on("cuda", 0.02)], "test"))


def test_a_record_of_an_unknown_device_kind_cannot_be_built() -> None:
    with pytest.raises(WireFormatError, match="not a device kind"):
        ToleranceRecord(bytes(32), "tiny", "bfloat16", "test", json.dumps(on("tpu", 0.01)).encode(), 1)


def test_a_verifier_takes_the_ledger_record_for_its_device_kind_only() -> None:
    served = {
        "bfloat16": {"cpu": {"record": record_wire().hex()}, "cuda": {"record": record_wire(on("cuda", 0.02)).hex()}}
    }
    assert served_records({"tolerances": served}, "cuda") == {
        "bfloat16": bytes.fromhex(served["bfloat16"]["cuda"]["record"])
    }
    assert served_records(answer({"bfloat16": record_wire()}), "cuda") == {}, "no GPU record: none taken"
    on_gpu, _ = judging_tolerances(
        "tiny", served_records({"tolerances": served}, "cuda"), BF16, LEDGER_TRUST, device="cuda"
    )
    assert on_gpu.span("tiny", 0, 1, "bfloat16", device="cuda").thresholds.pooled_rel == pytest.approx(0.02)
    with pytest.raises(ToleranceError, match="for replays on cuda"):
        on_gpu.span("tiny", 0, 1, "bfloat16", device="cpu")
    # a CPU record served under the GPU's key (by a ledger or anything between) is refused, not judged by
    with pytest.raises(ToleranceError, match="on cpu, served as tiny bfloat16 on cuda"):
        open_record(record_wire(), "tiny", "bfloat16", LEDGER_TRUST, "cuda")
    missing, _ = judging_tolerances("tiny", {}, BF16, LEDGER_TRUST, device="cuda")
    with pytest.raises(ToleranceError, match="no tolerance record for tiny bfloat16 replayed on cuda"):
        missing.span("tiny", 0, 1, "bfloat16", device="cuda")


def test_signing_picks_the_device_kind_asked_where_a_file_holds_several() -> None:
    calibration = [on("cpu", 0.01), on("cuda", 0.02)]
    with pytest.raises(CalibrationFileError, match="choose one with --device"):
        select_document(calibration, "bfloat16")
    signed = sign_tolerance(calibration, "bfloat16", CALIBRATOR, device="cuda")
    assert signed.record.device == "cuda" and json.loads(signed.record.document)["blocks"][0]["pooled_rel"] == 0.02
    with pytest.raises(CalibrationFileError, match="replayed on cuda"):
        select_document([document()], "bfloat16", "cuda")


def test_exact_comparison_is_refused_where_servers_ran_on_another_device_kind() -> None:
    """Bits match only where server and replay ran the same kernels: a document that holds for GPU servers too
    never lets a CPU verifier fail a session for differing bits."""
    exact = measured_record(True, [torch.get_num_threads()], [1], 8, 64)
    mixed = ToleranceDocument.parse(on("cpu", 0.01, servers=["cpu", "cuda"], stepwise_replay=exact), "test")
    alone = ToleranceDocument.parse(on("cpu", 0.01, stepwise_replay=exact), "test")
    policy = replace(DEFAULT_ESCALATION, exact=True)
    assert "compute other bits" in exact_refusal(mixed, [torch.zeros(1, 2, 4)], policy)
    assert "compute other bits" not in exact_refusal(alone, [torch.zeros(1, 2, 4)], policy)


@pytest.mark.slow  # a short calibration: about 15 s
def test_a_calibration_records_its_device_kinds_and_includes_a_gpu_where_one_is_present(tmp_path: Path) -> None:
    """``swarmtrust verifier calibrate`` replays on --device and serves, by default, on the CPU and on CUDA where
    this machine has it: the pairing a CPU verifier of GPU servers needs is calibrated wherever it can be."""
    out = tmp_path / "calibration.json"
    args = ["verifier", "calibrate", "--dtype", "float32", "--sessions", "40", "--adversary-sessions", "1"]
    done = CliRunner().invoke(app, [*args, "--crafted-seconds", "0", "--device", "cpu", "--out", str(out)])
    assert done.exit_code == 0, done.output
    (written,) = json.loads(out.read_text())
    expected = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    assert (written["device"], written["servers"]) == ("cpu", expected)
    served_on = written["sessions"]["served_on"]
    assert list(served_on) == expected and sum(served_on.values()) == 40 and min(served_on.values()) >= 20
    document = ToleranceDocument.parse(written, str(out))
    assert Tolerances([document]).span("tiny", 0, 8, "float32", device="cpu").thresholds.pooled_rel > 0
    refused = CliRunner().invoke(app, [*args, "--server-device", "cuda:7", "--out", str(out)])
    assert refused.exit_code != 0 and "cuda:7" in str(refused.exception or refused.output)
