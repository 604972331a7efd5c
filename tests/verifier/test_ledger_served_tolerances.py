"""Tolerance records through a real ledger service (SQLite and PostgreSQL): served as the signed envelope, read by
a verifier's worker over HTTP and judged by, or refused with a reason (a document the ledger admitted but that
is no tolerance document; a dtype without a record); bad records refused at the door with nothing changed; the
launcher's records for demo and live swarms, added once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.node.model.source import resolve_model
from swarmtrust.protocol.model_records import ToleranceRecord
from swarmtrust.protocol.signing import open_signed
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance_document import ToleranceError
from swarmtrust.verifier.worker import VerifierWorker
from tests.builders import new_key
from tests.verifier.test_ledger_tolerances import document, record_wire

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)


@dataclass
class Service:
    url: str
    swarm: LocalSwarm

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1{path}", timeout=30)

    def admin(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"} | kwargs.pop("headers", {})
        return httpx.post(f"{self.url}/api/v1/admin{path}", headers=headers, timeout=30, **kwargs)

    def add(self, wire: bytes) -> httpx.Response:
        return self.admin("/tolerances", content=wire, headers={"Content-Type": "application/octet-stream"})

    def head(self) -> int:
        return int(httpx.get(f"{self.url}/health", timeout=30).json()["head_seq"])


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    with LocalSwarm(tmp_path) as swarm:
        service = Service(swarm.start_api(db_url=db_url, admin_token=TOKEN), swarm)
        registered = service.admin("/models", json={"model_id": "tiny", "dtypes": ["bfloat16", "float32", "float16"]})
        assert registered.status_code == 200, registered.text
        yield service


def test_the_ledger_serves_the_latest_record_as_its_signed_envelope(service: Service) -> None:
    first, second = (
        record_wire(document(threshold=0.1)),
        record_wire(document(threshold=0.2), created_ms=1_700_000_000_001),
    )
    assert service.add(first).status_code == 200 and service.add(second).status_code == 200
    served = service.get("/models/tiny/tolerances/bfloat16")
    assert served.status_code == 200 and served.headers["content-type"] == "application/octet-stream"
    assert served.content == second
    with LedgerApi(service.url, new_key()) as api:
        assert api.tolerance_record("tiny", "bfloat16") == second
        assert api.tolerance_record("tiny", "float16") is None
    missing = service.get("/models/tiny/tolerances/float16")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_tolerance"
    assert "POST /api/v1/admin/tolerances" in missing.json()["error"]["message"]
    assert service.get("/models/tiny/tolerances/int4").status_code == 422
    assert service.get("/models/other/tolerances/bfloat16").status_code == 404
    # kept per device kind of the replays: a GPU verifier's record is its own, and the CPU's stays in force
    on_gpu = record_wire(document(threshold=0.3) | {"device": "cuda"}, created_ms=1_700_000_000_002)
    assert service.add(on_gpu).status_code == 200
    with LedgerApi(service.url, new_key()) as api:
        assert api.tolerance_record("tiny", "bfloat16", "cuda") == on_gpu
        assert api.tolerance_record("tiny", "bfloat16") == second
    assert service.get("/models/tiny/tolerances/bfloat16?device=cpu").content == second
    assert service.get("/models/tiny/tolerances/bfloat16?device=tpu").status_code == 422


def test_bad_records_are_refused_at_the_door_and_the_served_one_stays(service: Service) -> None:
    good = record_wire()
    assert service.add(good).status_code == 200
    head = service.head()
    flipped = good[:-1] + bytes([good[-1] ^ 1])
    other_model = record_wire(document(model="other"), model_id="other")
    for wire in (flipped, b"\x92\xc4\x00\xc4\x00", good[:-5]):
        refused = service.add(wire)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_tolerance", refused.text
        assert "signed tolerance record" in refused.json()["error"]["message"]
    assert service.head() == head and service.get("/models/tiny/tolerances/bfloat16").content == good
    assert service.add(other_model).status_code == 200, "another model's record is its own, not tiny's"
    assert service.get("/models/tiny/tolerances/bfloat16").content == good


def test_a_verifier_judges_by_the_ledger_records_and_refuses_what_it_cannot(service: Service) -> None:
    assert service.add(record_wire()).status_code == 200
    not_a_document = record_wire({"format": 1, "model": "tiny", "dtype": "float32"}, dtype="float32")
    assert service.add(not_a_document).status_code == 200, "the ledger cannot read documents: verifiers refuse them"
    with LedgerApi(service.url, new_key()) as api:
        worker = VerifierWorker(api, new_key(), SpanCache(resolve_model("tiny")))
        history, tolerances = worker.judging()
    assert history.latest is not None and history.latest.dtypes == ("bfloat16", "float32", "float16")
    assert tolerances.span("tiny", 0, 8, "bfloat16").thresholds.pooled_rel == pytest.approx(0.4)
    with pytest.raises(ToleranceError) as refused:
        tolerances.span("tiny", 0, 8, "float32")
    assert "the ledger's record was refused" in str(refused.value) and "format 2" in str(refused.value)
    with pytest.raises(ToleranceError, match="the ledger serves no tolerance record for tiny float16"):
        tolerances.span("tiny", 0, 8, "float16")


def test_the_launcher_adds_signed_records_for_registered_dtypes_once(tmp_path: Path) -> None:
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps([document(), document(model="other"), document(dtype="float16")]))
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api(db_url=db, models={"tiny": ("bfloat16", "float32")}, tolerances=calibration)
        view = httpx.get(f"{url}/api/v1/models/tiny", timeout=30).json()
        head = httpx.get(f"{url}/health", timeout=30).json()["head_seq"]
        again = swarm.start_api(db_url=db, models={"tiny": ("bfloat16", "float32")}, tolerances=calibration)
        assert httpx.get(f"{again}/health", timeout=30).json()["head_seq"] == head, "a restart adds nothing"
    assert view["tolerances"].keys() == {"bfloat16"}, "float32 has no document; float16 is not registered"
    assert view["tolerances"]["bfloat16"].keys() == {"cpu"}, "the document names no device: the CPU's"
    record = open_signed(ToleranceRecord, bytes.fromhex(view["tolerances"]["bfloat16"]["cpu"]["record"])).record
    from swarmtrust.protocol.keys import load_signing_key

    assert record.calibrator_key == bytes(load_signing_key(tmp_path / "calibrator.key").verify_key)
    assert json.loads(record.document) == document()
