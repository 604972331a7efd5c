"""Signed misbehaviour over real HTTP, against a `swarmtrust api serve` process on SQLite and PostgreSQL: a
proof convicts (201), again answers duplicate (200); refusals (not a proof, someone else's proof, unsigned,
garbage) write nothing; a conflicting receipt at ``POST /receipts`` convicts too; the audit stays clean."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.misbehaviour import MisbehaviourProof, build_proof, contradiction
from swarmtrust.protocol.signing import sign_record
from tests.builders import new_key, resign, session_receipts
from tests.rest import rest_get

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api(db_url=db_url), db_url


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


def head(url: str) -> int:
    return int(httpx.get(f"{url}/health", timeout=30).json()["head_seq"])


def test_a_proof_convicts_once_and_anything_else_is_refused(api: tuple[str, str]) -> None:
    url, db_url = api
    server, reporter = new_key(), new_key()
    receipts = session_receipts(server, 3)
    twin = resign(receipts[1].record, server, output_digest=os.urandom(32))
    now = time.time_ns() // 1_000_000
    proof = build_proof(reporter, contradiction(receipts[1], twin), now).to_wire()

    with LedgerApi(url, reporter) as ledger:
        refused = {}
        for name, body in {
            "garbage": b"\x00\x01",
            "an honest pair": _hand_built(reporter, receipts[1], receipts[2], now),
        }.items():
            with pytest.raises(LedgerApiError) as error:
                ledger.request("POST", "/misbehaviour", body, "application/octet-stream")
            refused[name] = (error.value.status, error.value.code)
        assert refused == {"garbage": (400, "bad_proof"), "an honest pair": (422, "not_a_proof")}
    with LedgerApi(url, new_key()) as stranger, pytest.raises(LedgerApiError) as stolen:
        stranger.report_misbehaviour(proof)
    assert (stolen.value.status, stolen.value.code) == (403, "wrong_reporter")
    unsigned = httpx.post(f"{url}/api/v1/misbehaviour", content=proof, timeout=30)
    assert unsigned.status_code == 401
    assert head(url) == 0, "refused: nothing written"

    with LedgerApi(url, reporter) as ledger:
        first = ledger.request("POST", "/misbehaviour", proof, "application/octet-stream")
        again = ledger.request("POST", "/misbehaviour", proof, "application/octet-stream")
    assert (first.status_code, first.json()["status"], first.json()["kind"]) == (201, "accepted", "equivocation")
    assert (again.status_code, again.json()["status"], again.json()["seq"]) == (200, "duplicate", first.json()["seq"])
    (listed,) = rest_get(url, "/misbehaviour", server=hexkey(server))
    assert listed["reporter_key"] == hexkey(reporter) and listed["step"] == 1
    assert rest_get(url, f"/servers/{hexkey(server)}/reputation")["state"] == "quarantined"
    with Ledger.open(db_url) as ledger_db:
        report = ledger_db.audit()
    assert report.ok, report.problems


def test_a_conflicting_receipt_at_ingest_convicts(api: tuple[str, str]) -> None:
    url, db_url = api
    server, client = new_key(), new_key()
    receipts = session_receipts(server, 2)
    twin = resign(receipts[0].record, server, output_digest=os.urandom(32))
    with LedgerApi(url, client) as ledger:
        body = msgpack.packb([r.to_wire() for r in receipts], use_bin_type=True)
        ledger.request("POST", "/receipts", body, "application/x-msgpack")
        answer = ledger.request(
            "POST", "/receipts", msgpack.packb([twin.to_wire()], use_bin_type=True), "application/x-msgpack"
        ).json()
    assert answer["results"][0]["reason"] == "conflict" and "convicted" in answer["results"][0]["message"]
    (listed,) = rest_get(url, "/misbehaviour", server=hexkey(server))
    assert listed["kind"] == "equivocation" and listed["step"] == 0
    with Ledger.open(db_url) as ledger_db:
        assert ledger_db.audit().ok


def _hand_built(reporter: Any, a: Any, b: Any, now: int) -> bytes:
    """A proof of any two receipts, however little they prove."""
    record = MisbehaviourProof(
        bytes(reporter.verify_key), a.record.server_key, a.record.session_id, a.to_wire(), b.to_wire(), now
    )
    return sign_record(record, reporter).to_wire()
