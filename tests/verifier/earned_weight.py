"""Verifier weight earned in a ledger's database, as verifier processes would earn it, so that tests of co-signing
need not wait for real spot checks to accumulate."""

from __future__ import annotations

import time
from typing import Any

from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.market import mint
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict

AGREEMENTS = 10  # the apprenticeship before a verifier has weight (``ledger.checkpoint_fold.WeightRule``)


def earn_weight(db_url: str, ledger_key: Any, verifiers: list[Any]) -> str:
    """Decided passes until every verifier has ``AGREEMENTS`` agreements, and a mint (a balance to attest): the
    minted account."""
    engine = create_ledger_engine(db_url)
    upgrade(engine)
    engine.dispose()
    server, client = new_key(), new_key()
    with Ledger.open(db_url) as ledger:
        checks = SpotChecks(ledger.engine, ledger_key, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
        agreements = dict.fromkeys(range(len(verifiers)), 0)
        for _ in range(40 * len(verifiers)):  # the draw spreads challenges among those who ask: enough, by far
            if min(agreements.values()) >= AGREEMENTS:
                break
            receipts, evidence = evidence_session(server, 3)
            encoded = evidence.encode()
            checks.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
            held = [(i, c) for i, v in enumerate(verifiers) if (c := checks.claim(bytes(v.verify_key))) is not None]
            assert len(held) == 1, "one verifier holds each first round"
            index, claim = held[0]
            checks.submit_verdict(signed_verdict(verifiers[index], claim, "pass", int(time.time() * 1000)))
            agreements[index] += 1
        assert min(agreements.values()) >= AGREEMENTS, agreements
        mint(ledger.engine, ledger_key, account=bytes(client.verify_key).hex(), amount=500, reason="t", admin="t")
    return bytes(client.verify_key).hex()
