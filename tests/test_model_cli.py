"""The operators' model commands as users run them (a real ``swarmtrust`` process per call): register a model's
dtypes, sign a calibration's tolerance document, add it to the ledger, list what is registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.keys import generate_key_file
from swarmtrust.protocol.model_records import ToleranceRecord
from swarmtrust.protocol.signing import open_signed
from tests.test_cli import run

pytestmark = pytest.mark.processes  # runs the command line as a process: not in the fast tier


def test_register_sign_add_and_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    assert run("ledger", "upgrade", "--db", url).returncode == 0
    ledger_key, calibrator = tmp_path / "ledger.key", tmp_path / "calibrator.key"
    generate_key_file(ledger_key)
    generate_key_file(calibrator)

    empty = run("ledger", "models", "--db", url)
    assert empty.returncode == 0 and "no model is registered" in empty.stdout
    register = ["ledger", "register-model", "--db", url, "--ledger-key", str(ledger_key), "--model-id", "tiny"]
    done = run(*register, "--dtype", "float32", "--dtype", "bfloat16")
    assert done.returncode == 0, done.stderr
    assert "model tiny registered for float32, bfloat16 (event 1)" in done.stdout
    assert "already registered" in run(*register, "--dtype", "float32", "--dtype", "bfloat16").stdout
    bad = run(*register, "--dtype", "float64")
    assert bad.returncode == 1 and "float64" in bad.stderr and "expected one of" in bad.stderr

    calibration = tmp_path / "calibration.json"
    documents = [{"model": "tiny", "dtype": d, "hardware": "cpu test", "thresholds": {"x": 1}} for d in ("float32",)]
    calibration.write_text(json.dumps({"documents": documents}))
    record = tmp_path / "float32.rec"
    sign = ["verifier", "sign-tolerance", "--key", str(calibrator), "--calibration", str(calibration)]
    signed = run(*sign, "--dtype", "float32", "--out", str(record))
    assert signed.returncode == 0, signed.stderr
    opened = open_signed(ToleranceRecord, record.read_bytes()).record
    assert (opened.model_id, opened.dtype, opened.hardware) == ("tiny", "float32", "cpu test")
    assert json.loads(opened.document)["thresholds"] == {"x": 1}
    missing = run(*sign, "--dtype", "bfloat16", "--out", str(tmp_path / "none.rec"))
    assert missing.returncode == 1 and "no tolerance document(s) for dtype bfloat16" in missing.stderr
    assert not (tmp_path / "none.rec").exists()

    added = run("ledger", "add-tolerance", "--db", url, "--record", str(record))
    assert added.returncode == 0, added.stderr
    assert "tolerance for tiny in float32, replayed on cpu ('cpu test'), recorded (event 2)" in added.stdout
    forged = tmp_path / "forged.rec"
    forged.write_bytes(record.read_bytes()[:-1] + bytes([record.read_bytes()[-1] ^ 1]))
    refused = run("ledger", "add-tolerance", "--db", url, "--record", str(forged))
    assert refused.returncode == 1 and "signed tolerance record" in refused.stderr

    listed = run("ledger", "models", "--db", url)
    assert "tiny: float32, bfloat16 since" in listed.stdout and "tolerances: float32 on cpu (cpu test)" in listed.stdout
    with Ledger.open(url) as ledger:
        assert ledger.audit().ok and len(ledger.models()) == 1
