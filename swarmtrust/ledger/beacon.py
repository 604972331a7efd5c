"""Audit coins nobody can predict, and everybody can recompute afterwards (pure: commit-reveal seeds).

Whether a first-round pass is audited is a coin drawn *after* the verdict is in the ledger:

    seed(e)       = BLAKE2b-256(key = the ledger signing key's 32 seed bytes, "swarmtrust/audit-seed/v1" || e)
    commitment(e) = BLAKE2b-256("swarmtrust/audit-seed-commitment/v1" || e || seed(e))
    coin          = BLAKE2b-64(key = seed(E), "swarmtrust/audit-coin/v1" || verdict digest) / 2^64   in [0, 1)

``e`` is an epoch: an hour of the ledger's clock (``ledger.epochs``). The coin of a pass uses the seed of the
epoch after its assignment's, ``E = epoch(assigned_ms) + 1``. The ledger logs ``commitment(e + 1)`` (a
``seed_commitment`` event) before it hands out any assignment in epoch ``e``, and reveals ``seed(e - 1)`` (a
``seed_reveal`` event) once its clock is ``REVEAL_MARGIN_MS`` into epoch ``e``:

- a verifier cannot compute its coin before its verdict is recorded: the seed is secret until then, and the
  coin binds the verdict's own digest;
- the ledger operator cannot bias a coin after seeing the verdict: the seed was committed before the
  assignment the verdict answers existed;
- several API processes over one database agree on the seed without storing it: each derives it from the
  ledger key they share; an auditor (who may be a verifier) reads only commitments and revealed seeds;
- a pass recorded after its seed was revealed, or whose seed was not committed before its assignment, gets
  the coin 0 (audited whenever audits are on): a verifier gains nothing by answering late.
"""

from __future__ import annotations

import hashlib

from swarmtrust.ledger.epochs import CLOSE_MARGIN_MS, EPOCH_MS, epoch_of

SEED_DOMAIN = b"swarmtrust/audit-seed/v1"
COMMITMENT_DOMAIN = b"swarmtrust/audit-seed-commitment/v1"
COIN_DOMAIN = b"swarmtrust/audit-coin/v1"
REVEAL_MARGIN_MS = CLOSE_MARGIN_MS  # allows for clock skew between API processes, as epochs do
FORCED_COIN = 0.0  # the coin of a pass whose seed was known, or not committed, before it was recorded


def epoch_seed(key_seed: bytes, epoch: int) -> bytes:
    """The secret seed of ``epoch``'s coins, derived from the ledger signing key's 32 seed bytes."""
    if len(key_seed) != 32:
        raise ValueError("the audit seed is derived from the 32 seed bytes of the ledger's Ed25519 key")
    return hashlib.blake2b(SEED_DOMAIN + _epoch_bytes(epoch), key=key_seed, digest_size=32).digest()


def seed_commitment(epoch: int, seed: bytes) -> bytes:
    """What the ledger publishes about ``seed`` before using it: a digest that only this seed opens."""
    return hashlib.blake2b(COMMITMENT_DOMAIN + _epoch_bytes(epoch) + seed, digest_size=32).digest()


def audit_coin(seed: bytes, verdict_digest: bytes) -> float:
    """The coin of the pass whose signed verdict has ``verdict_digest``: uniform in [0, 1) to whoever does not
    know ``seed``."""
    digest = hashlib.blake2b(COIN_DOMAIN + verdict_digest, key=seed, digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def coin_epoch(assigned_ms: int) -> int:
    """The epoch whose seed decides the coins of passes answering an assignment made at ``assigned_ms``."""
    return epoch_of(assigned_ms) + 1


def reveal_due(epoch: int, now_ms: int) -> bool:
    """Whether ``epoch``'s seed may be revealed: its assignments were made an epoch before it, so every pass it
    decides has had at least an hour to come in."""
    return now_ms >= (epoch + 1) * EPOCH_MS + REVEAL_MARGIN_MS


def effective_coin(seed: bytes, verdict_digest: bytes, *, committed_in_time: bool, revealed_before: bool) -> float:
    """The coin a pass gets: ``audit_coin``, unless the seed was not committed before its assignment or was
    revealed before the pass was recorded (then anyone could have known it): ``FORCED_COIN``."""
    if not committed_in_time or revealed_before:
        return FORCED_COIN
    return audit_coin(seed, verdict_digest)


def _epoch_bytes(epoch: int) -> bytes:
    return epoch.to_bytes(8, "big")
