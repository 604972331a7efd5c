"""Model registrations and tolerance records over real HTTP (SQLite and PostgreSQL): public reads, admin writes,
bad input refused with nothing recorded, and the node-side client reading them back."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.model_records import ModelRegistration, ToleranceRecord
from swarmtrust.protocol.serving_dtypes import history_from_answer
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.builders import new_key

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
CALIBRATOR = new_key()


class Service:
    def __init__(self, url: str, db_url: str) -> None:
        self.url = url
        self.db_url = db_url

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1{path}", timeout=30)

    def register(self, body: Any, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/api/v1/admin/models", json=body, headers=headers, timeout=30)

    def tolerance(self, wire: bytes, token: str | None = TOKEN, content_type: str = "application/octet-stream") -> Any:
        headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
        return httpx.post(f"{self.url}/api/v1/admin/tolerances", content=wire, headers=headers, timeout=30)

    def events(self) -> int:
        return int(httpx.get(f"{self.url}/health", timeout=30).json()["head_seq"])


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    with LocalSwarm(tmp_path) as swarm:
        yield Service(swarm.start_api(db_url=db_url, admin_token=TOKEN), db_url)


def tolerance_wire(dtype: str = "float32", **document: Any) -> bytes:
    doc = json.dumps({"model": "tiny", "dtype": dtype, **document}).encode()
    record = ToleranceRecord(bytes(CALIBRATOR.verify_key), "tiny", dtype, "cpu x86_64 torch 2.13.0", doc, 1_000)
    return sign_record(record, CALIBRATOR).to_wire()


def test_an_administrator_registers_a_model_and_anyone_reads_it(service: Service) -> None:
    unknown = service.get("/models/tiny")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_model"
    assert "not registered" in unknown.json()["error"]["message"]
    assert service.get("/models").json() == []

    done = service.register({"model_id": "tiny", "dtypes": ["float32"]})
    assert done.status_code == 200 and done.json() == {"status": "recorded", "seq": 1}
    assert service.register({"model_id": "tiny", "dtypes": ["float32"]}).json()["status"] == "unchanged"
    assert service.register({"model_id": "tiny", "dtypes": ["float32", "bfloat16"]}).json()["seq"] == 2
    assert service.tolerance(tolerance_wire(fitted=1)).json() == {"status": "recorded", "seq": 3}

    view = service.get("/models/tiny").json()
    assert (view["model_id"], view["dtypes"]) == ("tiny", ["float32", "bfloat16"])
    assert [h["dtypes"] for h in view["history"]] == [["float32"], ["float32", "bfloat16"]]
    health = httpx.get(f"{service.url}/health", timeout=30).json()
    registration = open_signed(ModelRegistration, bytes.fromhex(view["registration"]))
    assert registration.signer.hex() == health["ledger_key"], "signed by the ledger's key"
    assert view["tolerances"]["float32"]["cpu"]["hardware"] == "cpu x86_64 torch 2.13.0"
    tolerance = open_signed(ToleranceRecord, bytes.fromhex(view["tolerances"]["float32"]["cpu"]["record"]))
    assert json.loads(tolerance.record.document)["fitted"] == 1
    assert [m["model_id"] for m in service.get("/models").json()] == ["tiny"]

    with LedgerApi(service.url, new_key()) as api:  # what clients, servers and verifiers read
        history = history_from_answer("tiny", api.model("tiny"), ledger_key=bytes.fromhex(health["ledger_key"]))
        assert api.model("other") is None
    assert [e.dtypes for e in history.entries] == [("float32",), ("float32", "bfloat16")]
    with pytest.raises(WireFormatError, match="not signed by the pinned ledger key"):
        history_from_answer("tiny", view, ledger_key=bytes(new_key().verify_key))
    with Ledger.open(service.db_url) as ledger:
        assert ledger.audit().ok


BAD_REGISTRATIONS: list[tuple[dict[str, Any], int, str]] = [
    ({"model_id": "tiny", "dtypes": ["float64"]}, 400, "bad_registration"),
    ({"model_id": "tiny", "dtypes": ["float32", "float32"]}, 400, "bad_registration"),
    ({"model_id": "tiny", "dtypes": []}, 422, "invalid_request"),
    ({"model_id": "tiny", "dtypes": "float32"}, 422, "invalid_request"),
    ({"model_id": "tiny", "dtypes": ["float32"] * 5}, 422, "invalid_request"),
    ({"model_id": "", "dtypes": ["float32"]}, 422, "invalid_request"),
    ({"model_id": "ti\u0000ny", "dtypes": ["float32"]}, 422, "invalid_request"),
    ({"model_id": 7, "dtypes": ["float32"]}, 422, "invalid_request"),
    ({"model_id": "tiny", "dtypes": ["float32"], "extra": 1}, 422, "invalid_request"),
    ({"model_id": "tiny"}, 422, "invalid_request"),
]


def test_bad_registrations_are_refused_and_nothing_is_recorded(service: Service) -> None:
    for body, status, code in BAD_REGISTRATIONS:
        refused = service.register(body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), (body, refused.text)
        assert "message" in refused.json()["error"]
    assert service.events() == 0 and service.get("/models").json() == []


def test_bad_tolerance_records_are_refused_and_nothing_is_recorded(service: Service) -> None:
    good = tolerance_wire()
    flipped = bytearray(good)
    flipped[-1] ^= 1
    for wire in (bytes(flipped), b"", b"\x80", b"not msgpack", good[:-3]):
        refused = service.tolerance(wire)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_tolerance", refused.text
    wrong_type = service.tolerance(good, content_type="application/json")
    assert wrong_type.status_code == 415
    assert service.events() == 0


def test_writes_need_the_administrator(service: Service) -> None:
    for token in (None, TOKEN + "x"):
        assert service.register({"model_id": "tiny", "dtypes": ["float32"]}, token=token).status_code == 401
        assert service.tolerance(tolerance_wire(), token=token).status_code == 401
    assert service.events() == 0


def test_reads_refuse_what_no_model_id_holds(service: Service) -> None:
    assert service.get("/models/" + "x" * 201).status_code == 422
    assert service.get("/models/ti%00ny").status_code == 422
    assert service.get("/models/ti%1bny").json()["error"]["code"] == "invalid_request"
