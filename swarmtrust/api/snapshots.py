"""Publishing ledger-signed reputation snapshots in the DHT, so clients can route when the API is away."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import nacl.signing
from sqlalchemy import Engine

from swarmtrust.ledger.checkpoints import latest_final_proof, latest_final_ref
from swarmtrust.ledger.reputation_queries import checked_models, model_views, newcomer_view
from swarmtrust.node.dht import to_dht_value
from swarmtrust.protocol.checkpoint_proofs import CheckpointProofRecord
from swarmtrust.protocol.reputation_snapshot import ReputationSnapshot, SnapshotEntry, pack_entries, pack_newcomer
from swarmtrust.protocol.signing import Signed, sign_record

log = logging.getLogger(__name__)


def _entry(view: dict[str, Any]) -> SnapshotEntry:
    posterior = view["posterior"]
    return SnapshotEntry(
        view["state"],
        posterior["alpha"],
        posterior["beta"],
        view["spot_check_rate"],
        view.get("bonded", False),
        view.get("bond", 0),
        view.get("price", 0),
    )


def build_snapshot(
    engine: Engine, key: nacl.signing.SigningKey, model_id: str, now_ms: int, ttl_ms: int
) -> Signed[ReputationSnapshot]:
    with engine.connect() as connection:
        servers = model_views(connection, model_id, now_ms)
        newcomer = newcomer_view(connection, now_ms)
        final = latest_final_ref(connection)
    ordered = sorted(servers.items(), key=lambda item: -item[1]["checks"])  # most evidence first, if truncated
    snapshot = ReputationSnapshot(
        ledger_key=bytes(key.verify_key),
        model_id=model_id,
        entries=pack_entries({k: _entry(v) for k, v in ordered}),
        newcomer=pack_newcomer(_entry(newcomer)),
        made_ms=now_ms,
        expires_ms=now_ms + ttl_ms,
        checkpoint_number=final[0] if final is not None else 0,
        checkpoint=final[1] if final is not None else None,
    )
    return sign_record(snapshot, key)


class SnapshotPublisher:
    def __init__(self, engine: Engine, key: nacl.signing.SigningKey, dht: Any, *, interval: float) -> None:
        self.engine = engine
        self.key = key
        self.dht = dht
        self.interval = interval  # seconds between snapshots; each lives for three intervals
        self.published = 0

    def publish_once(self) -> None:
        now = time.time_ns() // 1_000_000
        ttl_ms = int(self.interval * 3000)
        # the proof first: a client that reads a snapshot naming a checkpoint then finds that checkpoint's proof
        self.publish_checkpoint(now, ttl_ms)
        with self.engine.connect() as connection:
            models = checked_models(connection)
        for model_id in models:
            signed = build_snapshot(self.engine, self.key, model_id, now, ttl_ms)
            record = signed.record
            self.dht.store(
                record.dht_keys()[0],
                to_dht_value("reputation", signed),
                record.expires_ms / 1000,
                subkey=signed.signer.hex(),
            )
            self.published += 1

    def publish_checkpoint(self, now: int, ttl_ms: int) -> None:
        """The latest final checkpoint's proof, so that clients reading snapshots from the DHT alone can check
        the checkpoint they name (none before a checkpoint is final)."""
        with self.engine.connect() as connection:
            proof = latest_final_proof(connection)
        if proof is None:
            return
        record = CheckpointProofRecord(
            ledger_key=bytes(self.key.verify_key),
            number=proof.number,
            proof=proof.to_wire(),
            made_ms=now,
            expires_ms=now + ttl_ms,
        )
        signed = sign_record(record, self.key)
        value = to_dht_value("checkpoint", signed)
        self.dht.store(record.dht_keys()[0], value, record.expires_ms / 1000, subkey=signed.signer.hex())

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.publish_once()
            except Exception:  # a DHT hiccup must not stop the service; the next round retries
                log.exception("publishing the reputation snapshot failed")
            stop.wait(self.interval)
