"""Two `swarmtrust api serve` processes over one PostgreSQL ledger, as the README's multi-host set-up runs them:
receipts submitted to both at once land in one hash chain, each service reads what the other wrote, and the
ledger audits clean."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi
from tests.builders import new_key, session_receipts

pytestmark = [pytest.mark.postgres, pytest.mark.processes]

BATCHES = 12
STEPS = 40


def submit(api_url: str, receipts: list[Any]) -> dict[str, Any]:
    with LedgerApi(api_url, new_key()) as api:
        body = msgpack.packb([r.to_wire() for r in receipts], use_bin_type=True)
        answer: dict[str, Any] = api.request("POST", "/receipts", body, "application/x-msgpack").json()
        return answer


def test_two_services_over_one_postgresql_ledger_keep_one_chain(postgres_url: str, tmp_path: Path) -> None:
    engine = create_ledger_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    with LocalSwarm(tmp_path) as swarm:
        urls = [swarm.start_api(db_url=postgres_url), swarm.start_api(db_url=postgres_url)]
        batches = [session_receipts(new_key(), STEPS) for _ in range(BATCHES)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda i: submit(urls[i % 2], batches[i]), range(BATCHES)))
        assert [a["accepted"] for a in answers] == [STEPS] * BATCHES
        heads = [httpx.get(f"{url}/health", timeout=30).json() for url in urls]
        assert heads[0]["head_seq"] == heads[1]["head_seq"] == BATCHES * STEPS
        assert heads[0]["ledger_key"] == heads[1]["ledger_key"]  # one ledger key, as clients pin it
        for index, batch in enumerate(batches):  # each service reads what the other one wrote
            other = urls[(index + 1) % 2]
            found = httpx.get(f"{other}/api/v1/receipts/{batch[-1].record.receipt_id.hex()}", timeout=30)
            assert found.status_code == 200 and found.json()["digest"] == batch[-1].digest.hex()
    with Ledger.open(postgres_url) as ledger:
        report = ledger.audit()
    assert report.ok and report.events_checked == BATCHES * STEPS
