"""The spot-check endpoints over real HTTP, against a `swarmtrust api serve` process, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.http_signing import sign_request
from tests.builders import challenge_for, evidence_session, new_key

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SERVER, CLIENT, VERIFIER = new_key(), new_key(), new_key()


@pytest.fixture
def api_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api(db_url=db_url)


def challenge_body(submitter=CLIENT) -> tuple[bytes, object]:  # type: ignore[no-untyped-def]
    receipts, evidence = evidence_session(SERVER, 3)
    encoded = evidence.encode()
    challenge = challenge_for(submitter, receipts, encoded)
    return msgpack.packb([challenge.to_wire(), encoded], use_bin_type=True), challenge


def test_health_names_the_ledger_key_and_head(api_url: str) -> None:
    health = httpx.get(f"{api_url}/health").json()
    assert health["status"] == "ok" and len(health["ledger_key"]) == 64 and health["head_seq"] == 0
    spec = httpx.get(f"{api_url}/openapi.json").json()
    assert {"/api/v1/challenges", "/api/v1/assignments", "/api/v1/verdicts", "/api/v1/disputes"} <= set(spec["paths"])


def test_unsigned_wrongly_signed_stale_and_replayed_requests_are_refused(api_url: str) -> None:
    body, _ = challenge_body()
    url = f"{api_url}/api/v1/challenges"
    path = "/api/v1/challenges"
    unsigned = httpx.post(url, content=body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "unauthorized"

    headers = sign_request(CLIENT, "POST", path, body)
    tampered = httpx.post(url, content=body + b"\x00", headers=headers)
    assert tampered.status_code == 401, "the signature covers the body"

    mallory = sign_request(new_key(), "POST", path, body)
    mallory["X-Swarmtrust-Key"] = bytes(CLIENT.verify_key).hex()  # claims to be the client
    assert httpx.post(url, content=body, headers=mallory).status_code == 401

    stale = sign_request(CLIENT, "POST", path, body, timestamp_ms=1_000)
    assert httpx.post(url, content=body, headers=stale).json()["error"]["message"].startswith("stale request")

    first = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 201, first.text
    replayed = httpx.post(url, content=body, headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "replayed"
    assert httpx.get(f"{api_url}/api/v1/challenges").json()["items"][0]["challenge_id"] == first.json()["challenge_id"]


def test_a_challenge_is_submitted_by_its_own_submitter(api_url: str) -> None:
    body, _ = challenge_body(submitter=CLIENT)
    with LedgerApi(api_url, VERIFIER) as someone_else, pytest.raises(LedgerApiError) as refused:
        someone_else.request("POST", "/challenges", body, "application/x-msgpack")
    assert refused.value.status == 403
    assert httpx.get(f"{api_url}/api/v1/challenges").json() == {"items": [], "next_cursor": None}


def test_claim_evidence_and_verdict_round_trip(api_url: str) -> None:
    body, challenge = challenge_body()
    with LedgerApi(api_url, CLIENT) as client:
        client.request("POST", "/challenges", body, "application/x-msgpack")
    with LedgerApi(api_url, VERIFIER) as verifier:
        claimed = verifier.claim_assignment(["tiny"])
        assert claimed is not None and claimed["challenge"]["server_key"] == bytes(SERVER.verify_key).hex()
        assert verifier.claim_assignment(["tiny"])["assignment_id"] == claimed["assignment_id"], "its own, again"
        evidence = verifier.evidence(claimed["challenge"]["evidence_digest"])
        assert len(evidence) == challenge.record.evidence_bytes  # type: ignore[attr-defined]
    with LedgerApi(api_url, new_key()) as stranger:
        assert stranger.claim_assignment(["llama-70b"]) is None, "only challenges of the models it holds"
        with pytest.raises(LedgerApiError) as forbidden:
            stranger.evidence(claimed["challenge"]["evidence_digest"])
    assert forbidden.value.status == 403, "evidence (activations) goes only to assigned verifiers"
    assert httpx.get(f"{api_url}/api/v1/verdicts", params={"server": "zz"}).status_code == 422
    assert httpx.get(f"{api_url}/api/v1/disputes").json()["items"] == []


def test_reputation_is_published_per_server_and_per_model(api_url: str) -> None:
    unknown = httpx.get(f"{api_url}/api/v1/servers/{'ab' * 32}/reputation").json()
    assert unknown["checked"] is False and unknown["state"] == "newcomer" and unknown["spot_check_rate"] == 1.0
    book = httpx.get(f"{api_url}/api/v1/reputation", params={"model": "tiny"}).json()
    assert book["servers"] == {} and book["newcomer"]["state"] == "newcomer"
    assert httpx.get(f"{api_url}/api/v1/servers/not-a-key/reputation").status_code == 422
    assert httpx.get(f"{api_url}/api/v1/reputation").status_code == 422
