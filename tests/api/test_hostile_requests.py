"""Ten thousand hostile requests against a real `swarmtrust api serve` (SQLite and PostgreSQL), seeded: every
route's parameters and bodies, signed writes signed properly around payloads that must be refused
(``tests.api.hostile``). None may answer 500 or more, none may be accepted, the service logs no traceback,
and the ledger's audit is clean afterwards."""

from __future__ import annotations

import collections
import os
import random
import secrets
from pathlib import Path

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.http_signing import sign_request
from tests.api.hostile import Probe, World, cursor_of, probes
from tests.builders import new_key, session_receipts, signed_announcement

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
# per database (about 30 s each here); SWARMTRUST_HOSTILE_REQUESTS and SWARMTRUST_HOSTILE_SEED for other runs
REQUESTS = int(os.environ.get("SWARMTRUST_HOSTILE_REQUESTS", "10000"))
SEED = int(os.environ.get("SWARMTRUST_HOSTILE_SEED", "17"))


def get_routes(url: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every GET route of the service's own OpenAPI document, with its path and query parameters."""
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    routes = []
    for path, operations in spec["paths"].items():
        if "get" in operations:
            params = [(p["name"], p["in"]) for p in operations["get"].get("parameters", []) if p["in"] != "header"]
            routes.append((path, params))
    return routes


def judge(probe: Probe, response: httpx.Response) -> str | None:
    """What is wrong with the answer to ``probe``; None if nothing."""
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if probe.expect == "unsupported":
        return None if status == 415 and response.json()["error"]["code"] == "unsupported_media_type" else f"{status}"
    if probe.expect == "forged":
        return None if status == 422 and response.json()["error"]["code"] == "forged_evidence" else f"{status}"
    if probe.expect == "refused":
        if probe.path == "/api/v1/receipts" and status == 200:  # per-item answers: every item refused
            answer = response.json()
            return None if answer["accepted"] == 0 and answer["duplicate"] == 0 else "accepted"
        if not 400 <= status < 500:
            return f"{status}: accepted"
        body = response.json()
        return None if set(body) == {"error"} and {"code", "message"} <= set(body["error"]) else "error shape"
    return None


def test_hostile_requests_get_4xx_and_change_nothing(db_url: str, tmp_path: Path) -> None:
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api(db_url=db_url, admin_token=TOKEN)
        server = new_key()
        with LedgerApi(url, server) as api:  # something for the reads to find, and a server to act on
            api.request("POST", "/servers/announce", signed_announcement(server).to_wire(), "application/octet-stream")
        before = httpx.get(f"{url}/health", timeout=30).json()["head_seq"]
        assert before == 1

        world = World(new_key(), bytes(server.verify_key).hex(), TOKEN, random.Random(SEED), get_routes(url))
        wrong: list[str] = []
        seen: collections.Counter[str] = collections.Counter()
        forged = 0
        with httpx.Client(base_url=url, timeout=60) as http:
            for probe in probes(world, REQUESTS):
                seen[probe.label or probe.path.split("?")[0]] += 1
                try:
                    response = http.request(probe.method, probe.path, content=probe.body, headers=probe.headers)
                except httpx.TransportError as exc:  # the service dropped the connection: as bad as a 500
                    wrong.append(f"{probe.method} {probe.path[:120]} ({probe.label}): connection lost ({exc})")
                    break
                problem = judge(probe, response)
                forged += probe.expect == "forged" and problem is None
                if problem is not None and len(wrong) < 20:
                    wrong.append(f"{probe.method} {probe.path[:120]} ({probe.label}): {problem} {response.text[:300]}")
        assert wrong == [], "\n".join(wrong)
        assert sum(seen.values()) == REQUESTS and len(seen) >= 30, seen  # every route was tried
        assert {"admin/models", "admin/tolerances"} <= set(seen), seen

        # Nothing was written but the record of each forged-evidence refusal, and the log checks out.
        kinds = httpx.get(f"{url}/api/v1/events", params={"after": before, "limit": 1000}, timeout=30).json()
        written = collections.Counter(e["kind"] for e in kinds["items"])
        assert written.pop("consensus_policy", 0) <= 1, "the desk logs its rules once, with its first write"
        assert written == collections.Counter({"evidence_rejected": forged} if forged else {}), written
        assert "Traceback" not in "".join(swarm.processes[-1].log)
    with Ledger.open(db_url) as ledger:
        report = ledger.audit()
    assert report.ok, report.problems[:5]


def test_a_map_where_a_signed_record_belongs_is_refused_not_a_crash(tmp_path: Path) -> None:
    """The two crashes the fuzzing session found, as plain regression cases: a map as a verdict envelope and a
    cursor past BIGINT. Both are 400 with the usual body, and the kept-alive connection survives them."""
    with LocalSwarm(tmp_path) as swarm, httpx.Client(base_url=swarm.start_api(), timeout=30) as http:
        key = new_key()
        body = msgpack.packb({"body": b"x", "signature": b"y"}, use_bin_type=True)
        for path, code in (("/api/v1/verdicts", "bad_verdict"), ("/api/v1/challenges", "bad_challenge")):
            framed = body if path.endswith("verdicts") else msgpack.packb([body, b"evidence"], use_bin_type=True)
            answer = http.post(path, content=framed, headers=sign_request(key, "POST", path, framed))
            assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text
        for name in ("receipts", "challenges", "verdicts", "disputes", "misbehaviour"):
            answer = http.get(f"/api/v1/{name}", params={"cursor": cursor_of([name, 2**70])})
            assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_cursor", answer.text
        assert http.get("/api/v1/servers", params={"model": "tiny\x00"}).status_code == 400
        wires = [r.to_wire() for r in session_receipts(new_key(), 2)]
        batch = msgpack.packb(wires, use_bin_type=True)
        answer = http.post(
            "/api/v1/receipts", content=batch, headers=sign_request(key, "POST", "/api/v1/receipts", batch)
        )
        assert answer.json()["accepted"] == 2, "after all that, the same connection still takes honest work"
