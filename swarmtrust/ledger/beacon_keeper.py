"""The write path of audit coins: commit seeds ahead of their use, reveal them when due, draw and log coins.

``AuditBeacon`` holds the ledger's signing key, from which every API process derives the same seeds
(``ledger.beacon``); the database holds only commitments and revealed seeds. Every method works inside an
``EventWriter`` transaction, so a coin and the verdict it decides commit together.
"""

from __future__ import annotations

from typing import Any

import nacl.signing
from sqlalchemy import select

from swarmtrust.ledger.beacon import (
    REVEAL_MARGIN_MS,
    coin_epoch,
    effective_coin,
    epoch_seed,
    reveal_due,
    seed_commitment,
)
from swarmtrust.ledger.epochs import EPOCH_MS, epoch_of
from swarmtrust.ledger.eventlog import EventWriter
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import AuditSeedRow
from swarmtrust.ledger.statements import AuditDraw, SeedCommitment, SeedReveal
from swarmtrust.protocol.signing import sign_record


class AuditBeacon:
    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self._key = key
        self._key_seed = bytes(key)  # the 32 seed bytes of the Ed25519 key
        self.ledger_key = bytes(key.verify_key)
        self._next_reveal_check_ms = 0  # nothing can fall due before this (this process's cache only)

    def commit_ahead(self, writer: EventWriter, now: int) -> None:
        """Log the commitment to the seed of the coins of assignments made at ``now``, unless it is there:
        called before every assignment, so the commitment always precedes what it decides."""
        epoch = coin_epoch(now)
        row = writer.connection.execute(select(AuditSeedRow.epoch).where(AuditSeedRow.epoch == epoch)).first()
        if row is None:
            commitment = SeedCommitment(self.ledger_key, epoch, seed_commitment(epoch, self._seed(epoch)), now)
            writer.append([EventDraft("seed_commitment", sign_record(commitment, self._key))])

    def reveal_due(self, writer: EventWriter, now: int) -> int:
        """Reveal every committed seed whose coins can no longer be drawn (``ledger.beacon.reveal_due``); how
        many were revealed."""
        if now < self._next_reveal_check_ms:
            return 0
        due = writer.connection.execute(
            select(AuditSeedRow.epoch)
            .where(AuditSeedRow.seed.is_(None), AuditSeedRow.epoch < epoch_of(now))
            .order_by(AuditSeedRow.epoch)
        ).scalars()
        reveals = [
            EventDraft(
                "seed_reveal", sign_record(SeedReveal(self.ledger_key, epoch, self._seed(epoch), now), self._key)
            )
            for epoch in due
            if reveal_due(epoch, now)
        ]
        writer.append(reveals)
        return len(reveals)

    def checked_reveals(self, now: int) -> None:
        """Note that a transaction that ran ``reveal_due`` at ``now`` committed: nothing falls due before the
        next epoch's margin."""
        self._next_reveal_check_ms = (epoch_of(now - REVEAL_MARGIN_MS) + 1) * EPOCH_MS + REVEAL_MARGIN_MS

    def coin(self, writer: EventWriter, assignment: dict[str, Any], verdict_digest: bytes) -> tuple[int, float]:
        """(epoch, coin) of the pass answering ``assignment`` (an ``assignments`` row): forced when its seed
        was not committed before the assignment or is revealed already (``ledger.beacon.effective_coin``)."""
        epoch = coin_epoch(assignment["assigned_ms"])
        row = writer.connection.execute(select(AuditSeedRow).where(AuditSeedRow.epoch == epoch)).mappings().first()
        in_time = (
            row is not None
            and row["state"] != "conflict"
            and row["committed_seq"] is not None
            and row["committed_seq"] < assignment["event_seq"]
        )
        revealed = row is not None and row["revealed_seq"] is not None
        seed = self._seed(epoch)
        return epoch, effective_coin(seed, verdict_digest, committed_in_time=in_time, revealed_before=revealed)

    def record_draw(
        self,
        writer: EventWriter,
        assignment: dict[str, Any],
        verdict_digest: bytes,
        coin: tuple[int, float],
        chance: float,
        audited: bool,
        now: int,
    ) -> None:
        """Log the coin that decided whether the pass answering ``assignment`` is audited."""
        epoch, value = coin
        draw = AuditDraw(
            ledger_key=self.ledger_key,
            challenge_id=bytes.fromhex(assignment["challenge_id"]),
            server_key=bytes.fromhex(assignment["server_key"]),
            assignment_id=bytes.fromhex(assignment["assignment_id"]),
            verifier_key=bytes.fromhex(assignment["verifier_key"]),
            verdict_digest=verdict_digest,
            epoch=epoch,
            coin=value,
            chance=chance,
            follow="audit" if audited else "decide",
            drawn_ms=now,
        )
        writer.append([EventDraft("audit_draw", sign_record(draw, self._key))])

    def _seed(self, epoch: int) -> bytes:
        return epoch_seed(self._key_seed, epoch)
