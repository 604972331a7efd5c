"""Epochs over real HTTP, on SQLite and PostgreSQL: a server's receipts per hour, committed to by a Merkle root
that a client can recompute, and inclusion proofs that verify against it and against nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from ledger.epochs import EPOCH_MS
from node.ledger_api import LedgerApi
from node.merkle import InclusionProof, merkle_root, verify_inclusion
from swarmtrust.launcher import LocalSwarm
from tests.builders import new_key, session_receipts

HOUR = 498_611  # an epoch in the past (2026-11-18), so that it is closed


@pytest.fixture
def api_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api(db_url=db_url)


def submit(api_url: str, receipts: list[Any]) -> None:
    with LedgerApi(api_url, new_key()) as api:
        body = msgpack.packb([r.to_wire() for r in receipts], use_bin_type=True)
        answer = api.request("POST", "/receipts", body, "application/x-msgpack").json()
    assert answer["accepted"] == len(receipts), answer


def get(api_url: str, path: str) -> httpx.Response:
    return httpx.get(f"{api_url}/api/v1{path}", timeout=30)


def test_an_epoch_sums_a_servers_hour_and_its_root_is_recomputable(api_url: str) -> None:
    server, other = new_key(), new_key()
    start = HOUR * EPOCH_MS
    first = session_receipts(server, 5, timestamp_ms=start + 1_000)
    second = session_receipts(server, 3, timestamp_ms=start + 2_000, input_shape=(1, 4, 64), block_end=8)
    later = session_receipts(server, 2, timestamp_ms=start + EPOCH_MS + 5)  # the next hour
    submit(api_url, [*first, *session_receipts(other, 4, timestamp_ms=start + 10), *second, *later])
    key = bytes(server.verify_key).hex()

    assert get(api_url, f"/servers/{key}/epochs").json() == {"server_key": key, "epochs": [HOUR + 1, HOUR]}
    summary = get(api_url, f"/servers/{key}/epochs/{HOUR}").json()
    assert summary["receipts"] == 8 and summary["sessions"] == 2
    assert summary["block_tokens"] == 5 * 1 * 4 + 3 * 4 * 8  # tokens × blocks of each receipt
    assert summary["start_ms"] == start and summary["end_ms"] == start + EPOCH_MS and summary["closed"] is True
    # In ledger order, only this server's receipts of this hour: the client recomputes the same root.
    assert summary["merkle_root"] == merkle_root([r.digest for r in [*first, *second]]).hex()


def test_a_receipts_proof_verifies_against_its_epochs_root_only(api_url: str) -> None:
    server = new_key()
    receipts = session_receipts(server, 7, timestamp_ms=HOUR * EPOCH_MS + 42)
    submit(api_url, receipts)
    target = receipts[4]
    answer = get(api_url, f"/receipts/{target.record.receipt_id.hex()}/proof").json()
    proof = InclusionProof(answer["index"], answer["tree_size"], tuple(bytes.fromhex(h) for h in answer["path"]))
    root = bytes.fromhex(answer["epoch"]["merkle_root"])
    assert answer["digest"] == target.digest.hex() and answer["index"] == 4 and answer["tree_size"] == 7
    assert verify_inclusion(target.digest, proof, root)
    assert not verify_inclusion(receipts[3].digest, proof, root)  # another receipt does not fit this proof


def test_unknown_and_malformed_epochs_and_receipts_are_refused_clearly(api_url: str) -> None:
    key = bytes(new_key().verify_key).hex()
    assert get(api_url, f"/servers/{key}/epochs").json()["epochs"] == []
    missing = get(api_url, f"/servers/{key}/epochs/{HOUR}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert get(api_url, f"/receipts/{'ab' * 16}/proof").status_code == 404
    assert get(api_url, f"/servers/{key}/epochs/-1").status_code == 422
    assert get(api_url, f"/servers/{key[:10]}/epochs").status_code == 422
    assert get(api_url, "/receipts/not-hex/proof").status_code == 422
