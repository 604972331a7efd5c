"""Epochs over real HTTP, on SQLite and PostgreSQL: the hour the ledger recorded a server's receipts in, with a
Merkle root a client can recompute and inclusion proofs that verify against it; bad requests refused clearly.
(The epochs' rules in detail, with a controlled clock: tests/ledger/test_epochs.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.epochs import EPOCH_MS
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.merkle import InclusionProof, merkle_root, verify_inclusion
from tests.builders import new_key, session_receipts

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


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


def test_an_epoch_sums_a_servers_receipts_and_a_proof_verifies_against_its_root(api_url: str) -> None:
    server = new_key()
    first = session_receipts(server, 5)
    second = session_receipts(server, 3, input_shape=(1, 4, 64), block_end=8)
    before = time.time_ns() // 1_000_000 // EPOCH_MS
    submit(api_url, [*first, *session_receipts(new_key(), 4), *second])
    after = time.time_ns() // 1_000_000 // EPOCH_MS
    key = bytes(server.verify_key).hex()

    epochs = get(api_url, f"/servers/{key}/epochs").json()["epochs"]
    assert len(epochs) == 1 and before <= epochs[0] <= after
    summary = get(api_url, f"/servers/{key}/epochs/{epochs[0]}").json()
    assert summary["receipts"] == 8 and summary["sessions"] == 2 and summary["closed"] is False
    assert summary["block_tokens"] == 5 * 1 * 4 + 3 * 4 * 8  # tokens × blocks of each receipt
    assert summary["merkle_root"] == merkle_root([r.digest for r in [*first, *second]]).hex()

    target = second[1]
    answer = get(api_url, f"/receipts/{target.record.receipt_id.hex()}/proof").json()
    proof = InclusionProof(answer["index"], answer["tree_size"], tuple(bytes.fromhex(h) for h in answer["path"]))
    assert answer["digest"] == target.digest.hex() and (answer["index"], answer["tree_size"]) == (6, 8)
    assert answer["epoch"] == summary
    assert verify_inclusion(target.digest, proof, bytes.fromhex(summary["merkle_root"]))


def test_unknown_and_malformed_epochs_and_receipts_are_refused_clearly(api_url: str) -> None:
    key = bytes(new_key().verify_key).hex()
    assert get(api_url, f"/servers/{key}/epochs").json()["epochs"] == []
    missing = get(api_url, f"/servers/{key}/epochs/498611")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert get(api_url, f"/receipts/{'ab' * 16}/proof").status_code == 404
    assert get(api_url, f"/servers/{key}/epochs/-1").status_code == 422
    assert get(api_url, f"/servers/{key[:10]}/epochs").status_code == 422
    assert get(api_url, "/receipts/not-hex/proof").status_code == 422
