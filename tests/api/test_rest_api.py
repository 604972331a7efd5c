"""The REST API over real HTTP, against a `swarmtrust api serve` process, on SQLite and PostgreSQL: servers,
receipts, events, reputation in batches, administration, metrics, limits and the one error shape."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.http_signing import sign_request
from tests.builders import new_key, session_receipts, signed_announcement

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
MAX_BODY = 200_000


@dataclass
class Service:
    url: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, path: str, token: str | None = TOKEN, **body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.post(f"{self.url}/api/v1/admin{path}", json=body, headers=headers, timeout=60)

    def events(self) -> int:
        return int(self.json("/health")["head_seq"])


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    with LocalSwarm(tmp_path) as swarm:
        yield Service(swarm.start_api("--max-request-bytes", str(MAX_BODY), db_url=db_url, admin_token=TOKEN))


def announce(service: Service, key: Any, **fields: Any) -> dict[str, Any]:
    with LedgerApi(service.url, key) as api:
        wire = signed_announcement(key, **fields).to_wire()
        answer: dict[str, Any] = api.request("POST", "/servers/announce", wire, "application/octet-stream").json()
        return answer


def submit_receipts(service: Service, wires: list[bytes], key: Any = None) -> dict[str, Any]:
    with LedgerApi(service.url, key or new_key()) as api:
        body = msgpack.packb(wires, use_bin_type=True)
        answer: dict[str, Any] = api.request("POST", "/receipts", body, "application/x-msgpack").json()
        return answer


def test_servers_are_listed_filtered_and_paged(service: Service) -> None:
    keys = [new_key() for _ in range(3)]
    announce(service, keys[0], name="first", block_start=0, block_end=4)
    announce(service, keys[1], name="second", block_start=4, block_end=8)
    announce(service, keys[2], name="third", block_start=0, block_end=8, model_id="other", state="offline")
    hexes = sorted(bytes(k.verify_key).hex() for k in keys)

    first = service.json("/api/v1/servers", limit=2)
    second = service.json("/api/v1/servers", limit=2, cursor=first["next_cursor"])
    assert [s["public_key"] for s in first["items"] + second["items"]] == hexes
    assert second["next_cursor"] is None

    assert {s["name"] for s in service.json("/api/v1/servers", model="tiny")["items"]} == {"first", "second"}
    assert {s["name"] for s in service.json("/api/v1/servers", span="5:6")["items"]} == {"second", "third"}
    assert {s["name"] for s in service.json("/api/v1/servers", online="false")["items"]} == {"third"}
    assert len(service.json("/api/v1/servers", state="newcomer")["items"]) == 3
    assert service.json("/api/v1/servers", state="quarantined")["items"] == []

    one = service.json(f"/api/v1/servers/{bytes(keys[1].verify_key).hex()}")
    assert (one["name"], one["block_start"], one["online"], one["checked"]) == ("second", 4, True, False)
    assert one["reputation"]["state"] == "newcomer" and one["reputation"]["spot_check_rate"] == 1.0

    missing = service.get(f"/api/v1/servers/{'ab' * 32}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert service.get("/api/v1/servers", cursor="not-a-cursor").json()["error"]["code"] == "invalid_cursor"
    assert service.get("/api/v1/servers", span="6:2").status_code == 422


def test_announcements_must_be_signed_by_the_server_they_announce(service: Service) -> None:
    key = new_key()
    wire = signed_announcement(key).to_wire()
    url, path = f"{service.url}/api/v1/servers/announce", "/api/v1/servers/announce"
    assert httpx.post(url, content=wire).status_code == 401
    impostor = httpx.post(url, content=wire, headers=sign_request(new_key(), "POST", path, wire))
    assert impostor.status_code == 403 and impostor.json()["error"]["code"] == "not_yours"
    forged = bytearray(wire)
    forged[-1] ^= 1
    refused = httpx.post(url, content=bytes(forged), headers=sign_request(key, "POST", path, bytes(forged)))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_announcement"
    assert service.events() == 0 and service.json("/api/v1/servers")["items"] == []
    assert announce(service, key)["status"] == "recorded"
    assert announce(service, key)["status"] == "refreshed", "a heartbeat adds no event"
    assert service.events() == 1


def test_receipts_are_ingested_once_and_read_back(service: Service) -> None:
    server = new_key()
    receipts = session_receipts(server, 3)
    wires = [r.to_wire() for r in receipts]
    answer = submit_receipts(service, [*wires, b"garbage"])
    assert (answer["accepted"], answer["duplicate"], answer["rejected"]) == (3, 0, 1)
    assert answer["results"][3]["reason"] == "malformed"
    again = submit_receipts(service, wires[:1])
    assert (again["accepted"], again["duplicate"]) == (0, 1)

    key = bytes(server.verify_key).hex()
    page = service.json("/api/v1/receipts", server=key, limit=2)
    rest = service.json("/api/v1/receipts", server=key, limit=2, cursor=page["next_cursor"])
    steps = [r["step"] for r in page["items"] + rest["items"]]
    assert steps == [2, 1, 0] and rest["next_cursor"] is None
    one = service.json(f"/api/v1/receipts/{receipts[0].record.receipt_id.hex()}")
    assert one["digest"] == receipts[0].digest.hex() and one["input_shape"] == [1, 1, 64]
    assert service.get(f"/api/v1/receipts/{'00' * 16}").status_code == 404

    with LedgerApi(service.url, new_key()) as api, pytest.raises(LedgerApiError) as bad:
        api.request("POST", "/receipts", b"\xc1", "application/x-msgpack")
    assert bad.value.status == 400 and service.events() == 3


def test_the_event_log_is_paged_by_sequence_number(service: Service) -> None:
    submit_receipts(service, [r.to_wire() for r in session_receipts(new_key(), 5)])
    first = service.json("/api/v1/events", limit=3)
    assert [e["seq"] for e in first["items"]] == [1, 2, 3] and first["next_cursor"] == "3"
    rest = service.json("/api/v1/events", after=first["next_cursor"])
    assert [e["seq"] for e in rest["items"]] == [4, 5] and rest["next_cursor"] is None
    assert rest["items"][0]["prev_hash"] == first["items"][-1]["hash"], "the chain, as auditors see it"
    assert service.json("/api/v1/events/2")["kind"] == "receipt"
    assert service.get("/api/v1/events/99").status_code == 404
    assert service.get("/api/v1/events", kind="bogus").status_code == 422


def test_reputation_in_batches(service: Service) -> None:
    keys = [bytes(new_key().verify_key).hex() for _ in range(2)]
    batch = service.json("/api/v1/reputation", server=keys)
    assert set(batch["servers"]) == set(keys) and all(v["state"] == "newcomer" for v in batch["servers"].values())
    assert service.get("/api/v1/reputation", server="nothex").status_code == 422
    assert service.get("/api/v1/reputation").json()["error"]["code"] == "invalid_request"


def test_administration_needs_the_token_and_is_recorded(service: Service) -> None:
    server = new_key()
    announce(service, server)
    key = bytes(server.verify_key).hex()
    before = service.events()
    assert service.admin(f"/servers/{key}/quarantine", token=None, reason="x").status_code == 401
    wrong = service.admin(f"/servers/{key}/quarantine", token=TOKEN + "x", reason="x")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert service.admin(f"/servers/{key}/quarantine", reason="").status_code == 422
    assert service.events() == before, "refused: nothing written"

    assert service.json("/api/v1/reputation", model="tiny")["servers"] == {}  # a page that may now be cached
    done = service.admin(f"/servers/{key}/quarantine", reason="abuse report #12")
    assert done.status_code == 200 and done.json()["seq"] == before + 1
    assert service.json(f"/api/v1/servers/{key}/reputation")["state"] == "quarantined"
    page = service.json("/api/v1/reputation", model="tiny")
    assert page["servers"][key]["state"] == "quarantined", "the model's page shows the new event at once"
    assert service.json("/api/v1/events", kind="admin_action")["items"][0]["subject"] == key
    assert service.admin(f"/servers/{'cd' * 32}/quarantine", reason="x").status_code == 404

    assert service.admin(f"/servers/{key}/release", reason="cleared").status_code == 200
    assert service.json(f"/api/v1/servers/{key}/reputation")["state"] == "newcomer"
    audit = service.admin("/audit")
    assert audit.status_code == 200 and audit.json()["ok"] and audit.json()["head_seq"] == before + 2
    last = httpx.get(f"{service.url}/api/v1/admin/audit", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert last["ok"] and last["head_seq"] == before + 2


def test_administration_is_off_without_a_token(tmp_path: Path) -> None:
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api()
        refused = httpx.post(f"{url}/api/v1/admin/audit", headers={"Authorization": "Bearer anything-at-all-1234"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "admin_disabled"
        assert httpx.get(f"{url}/dashboard/login").status_code == 503


def test_a_weak_admin_token_stops_the_service_from_starting(tmp_path: Path) -> None:
    from swarmtrust.launcher import LaunchError

    with LocalSwarm(tmp_path) as swarm, pytest.raises(LaunchError, match="at least 16 characters"):
        swarm.start_api(admin_token="short")


def test_metrics_count_requests_ingest_and_the_ledger(service: Service) -> None:
    submit_receipts(service, [r.to_wire() for r in session_receipts(new_key(), 2)])
    service.get("/api/v1/servers")
    text = service.get("/metrics").text
    assert 'swarmtrust_http_requests_total{method="GET",route="/api/v1/servers",status="200"} 1.0' in text
    assert 'swarmtrust_receipts_submitted_total{status="accepted"} 2.0' in text
    assert "swarmtrust_ingest_lag_seconds_count 2.0" in text
    assert "swarmtrust_ledger_events 2.0" in text and "swarmtrust_open_disputes 0.0" in text


def test_bodies_over_the_limit_are_refused_however_they_are_sent(service: Service) -> None:
    big = b"\x00" * (MAX_BODY + 1)
    announced = httpx.post(f"{service.url}/api/v1/receipts", content=big)
    assert announced.status_code == 413 and announced.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"\x00" * (MAX_BODY // 2)

    streamed = httpx.post(f"{service.url}/api/v1/receipts", content=chunks())
    assert streamed.status_code == 413 and service.events() == 0


def test_one_error_shape_and_no_cors_by_default(service: Service) -> None:
    for response in (
        service.get("/api/v1/nowhere"),
        httpx.delete(f"{service.url}/api/v1/servers"),
        service.get("/api/v1/servers", limit=0),
    ):
        assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message"}
    answer = httpx.get(f"{service.url}/api/v1/servers", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_the_openapi_document_describes_every_route(service: Service) -> None:
    spec = service.json("/openapi.json")
    wanted = {
        "/api/v1/servers",
        "/api/v1/servers/{key}",
        "/api/v1/servers/{key}/reputation",
        "/api/v1/reputation",
        "/api/v1/receipts",
        "/api/v1/challenges",
        "/api/v1/assignments",
        "/api/v1/verdicts",
        "/api/v1/disputes",
        "/api/v1/verifiers",
        "/api/v1/events",
        "/health",
        "/metrics",
    }
    assert wanted <= set(spec["paths"])
    servers = spec["paths"]["/api/v1/servers"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert servers["$ref"].endswith("Page_ServerOut_")
    assert "X-Swarmtrust-Signature" in spec["components"]["securitySchemes"]
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            nested = "$ref" in prop or "$ref" in prop.get("items", {}) or "additionalProperties" in prop
            assert nested or "examples" in prop or "examples" in schema, f"{name}.{field} has no example"
    assert not any(path.startswith("/dashboard") for path in spec["paths"])


def test_capacity_gives_coverage_throughput_and_the_last_minutes_load(service: Service) -> None:
    """GET /capacity: per model, each block's online servers and throughput, the weakest block's throughput
    for the model, uncovered blocks, and the sessions and steps of the last minute's receipts."""
    first, second, third = new_key(), new_key(), new_key()
    announce(service, first, block_start=0, block_end=4, throughput=300.0)
    announce(service, second, block_start=0, block_end=4, throughput=200.0)
    announce(service, third, block_start=4, block_end=6, throughput=120.0)
    session = session_receipts(first, 3)
    assert submit_receipts(service, [r.to_wire() for r in session])["accepted"] == 3
    (tiny,) = service.json("/api/v1/capacity")
    assert tiny["model_id"] == "tiny" and tiny["servers_online"] == 3
    assert [(b["block"], b["servers"], b["throughput"]) for b in tiny["blocks"]] == [
        *[(block, 2, 500.0) for block in range(4)],
        (4, 1, 120.0),
        (5, 1, 120.0),
    ]
    assert tiny["throughput"] == 120.0 and tiny["uncovered"] == []
    assert (tiny["sessions_last_minute"], tiny["steps_last_minute"]) == (1, 3)
    assert tiny["per_server"] == {bytes(first.verify_key).hex(): 3}
    announce(service, third, block_start=4, block_end=6, throughput=120.0, state="offline")
    (after,) = service.json("/api/v1/capacity")
    assert after["uncovered"] == [4, 5] and after["throughput"] == 0.0, "an offline server carries nothing"
