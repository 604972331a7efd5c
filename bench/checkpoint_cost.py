"""What checkpoints cost, per 10,000 events, against ingesting those events: ``python -m bench.run checkpoint-cost``.

Each round ingests 10,000 receipts in batches of 1,000 (signatures checked, as the ledger service does), then
the ledger proposes a checkpoint of them (``ledger.checkpoints.Checkpointer``: read from the database, signed,
stored) and a verifier co-signs it: the same events as ``GET /events`` serves them (base64 JSON) are checked
(chain hash, and signature where the checkpoint's state folds their kind), folded, the checkpoint recomputed,
compared and signed (``checkpoint_cosigning``, without the HTTP fetch). A few spot checks per round (challenge,
verdict, outcome) and a mint keep reputations, verifiers and balances in the state the checkpoint fixes.
Ratios are to the ingest time of the same round's events, on one core, SQLite.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import nacl.signing
from sqlalchemy import select

from bench.ledger_ingest import BATCH, frozen_heap, make_receipts
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.api.routes.events import event_json
from swarmtrust.checkpoint_cosigning import logged_event
from swarmtrust.ledger.checkpoint_fold import FoldedLog, differences, expected_checkpoint
from swarmtrust.ledger.checkpoints import Checkpointer
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.market import mint
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.models import Event
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.checkpoints import CheckpointSignature, checkpoint_digest
from swarmtrust.protocol.signing import sign_record
from tests.builders import challenge_for, evidence_session, signed_verdict

EVENTS = 10_000
ROUNDS = 3
TARGET = 0.10


def spot_checks(ledger: Ledger, key: nacl.signing.SigningKey, verifier: nacl.signing.SigningKey) -> None:
    """A few decided challenges and a mint: events the checkpoint's state folds."""
    checks = SpotChecks(ledger.engine, key, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
    server, client = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    for _ in range(5):
        receipts, evidence = evidence_session(server, 3)
        encoded = evidence.encode()
        checks.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
        claim = checks.claim(bytes(verifier.verify_key))
        assert claim is not None
        checks.submit_verdict(signed_verdict(verifier, claim, "pass", time.time_ns() // 1_000_000))
    mint(ledger.engine, key, account=bytes(client.verify_key).hex(), amount=100, reason="bench", admin="bench")


def measure(url: str) -> list[dict[str, float]]:
    engine = create_ledger_engine(url)
    upgrade(engine)
    key, verifier = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    checkpointer = Checkpointer(engine)
    cosigner_log, previous = FoldedLog(), None
    rounds = []
    with Ledger.open(url) as ledger:
        for _ in range(ROUNDS):
            spot_checks(ledger, key, verifier)
            wires = [signed.to_wire() for signed in make_receipts(EVENTS)]
            started = time.perf_counter()
            for index in range(0, EVENTS, BATCH):
                ledger.ingest_receipts(wires[index : index + BATCH])
            ingest = time.perf_counter() - started

            started = time.perf_counter()
            proposed = checkpointer.propose(key).checkpoint
            propose = time.perf_counter() - started
            assert proposed is not None

            with engine.connect() as connection:  # as GET /events serves them, fetched before the clock starts
                query = select(Event).where(Event.seq > cosigner_log.seq).order_by(Event.seq)
                served: list[dict[str, Any]] = [event_json(dict(row)) for row in connection.execute(query).mappings()]
            started = time.perf_counter()
            cosigner_log.feed(logged_event(item) for item in served)
            record = proposed.record
            expected = expected_checkpoint(cosigner_log, previous, record.ledger_key, record.created_ms)
            assert not differences(expected, record), differences(expected, record)
            sign_record(
                CheckpointSignature(
                    bytes(verifier.verify_key), record.ledger_key, record.number, checkpoint_digest(proposed)
                ),
                verifier,
            )
            cosign = time.perf_counter() - started
            cosigner_log.mark()
            previous = proposed
            rounds.append({"events": len(served), "ingest": ingest, "propose": propose, "cosign": cosign})
    engine.dispose()
    return rounds


def run() -> Section:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with frozen_heap(), tempfile.TemporaryDirectory() as tmp:
        rounds = measure(f"sqlite:///{tmp}/ledger.db")
    propose = median([r["propose"] / r["ingest"] for r in rounds])
    cosign = median([r["cosign"] / r["ingest"] for r in rounds])
    rows = [
        [
            str(i + 1),
            f"{r['events']:,}",
            f"{r['ingest']:.2f} s",
            f"{r['propose'] * 1000:.0f} ms ({r['propose'] / r['ingest']:.1%})",
            f"{r['cosign'] * 1000:.0f} ms ({r['cosign'] / r['ingest']:.1%})",
        ]
        for i, r in enumerate(rounds)
    ]
    markdown = "\n\n".join(
        [
            "## Checkpoints: proposing and co-signing against ingest (issue 20)",
            f"Machine: {machine_summary()}; one core, SQLite (WAL). Each round: {EVENTS:,} receipts ingested in "
            f"batches of {BATCH:,} (signatures checked), plus five decided spot checks and a mint; then the ledger "
            "proposes a checkpoint (reads the chain head, the events' hashes and the attested tables; signs; "
            "stores) and a verifier co-signs it (checks each served event's chain hash, and the signature of "
            "those whose kind the checkpoint's state folds; folds them; recomputes and compares the checkpoint; "
            "signs), the HTTP fetch of the events left out. Ratios are to the same round's ingest time.",
            table(["round", "events", "ingest", "propose (÷ ingest)", "co-sign (÷ ingest)"], rows),
            f"Median over {ROUNDS} rounds: proposing {propose:.1%}, co-signing {cosign:.1%} of ingest time. "
            "Receipts are most of a ledger's events and no attested table folds them, so a verifier checks their "
            "place in the chain (a hash) but not their signatures, which ingest and `ledger audit` check; a log "
            "with more spot checks or payments per receipt costs a verifier more per event.",
        ]
    )
    targets = (
        Target("checkpoint proposal ÷ ingest, per 10,000 events", f"{propose:.1%}", "≤ 10%", propose <= TARGET),
        Target("checkpoint co-signing ÷ ingest, per 10,000 events", f"{cosign:.1%}", "≤ 10%", cosign <= TARGET),
    )
    return Section("checkpoint-cost", markdown, targets)
