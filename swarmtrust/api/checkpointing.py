"""Proposing checkpoints in the background of the ledger service (``api serve --checkpoint-interval``): every
interval, and at every epoch boundary (``ledger.epochs``: once an hour closes, a checkpoint covers it whole)."""

from __future__ import annotations

import logging
import threading

import nacl.signing

from swarmtrust.ledger.checkpoints import Checkpointer
from swarmtrust.ledger.epochs import CLOSE_MARGIN_MS, EPOCH_MS
from swarmtrust.ledger.eventlog import now_ms

log = logging.getLogger(__name__)


def next_wait(now: int, every: float) -> float:
    """Seconds from ``now`` (ms) to the next proposal: ``every``, or sooner where an epoch closes first (its end
    plus the margin its receipts may still arrive in)."""
    to_close_ms = EPOCH_MS - (now - CLOSE_MARGIN_MS) % EPOCH_MS
    return min(every, to_close_ms / 1000)


def checkpoint_periodically(
    checkpointer: Checkpointer, ledger_key: nacl.signing.SigningKey, every: float, stop: threading.Event
) -> None:
    """Every ``every`` seconds, and as each epoch closes, until ``stop``: propose a checkpoint of the events since
    the last one (none when no event came). A failed round is logged and retried at the next; the events wait,
    nothing is lost."""
    while not stop.wait(next_wait(now_ms(), every)):
        try:
            done = checkpointer.propose(ledger_key)
            if done.status == "recorded" and done.checkpoint is not None:
                record = done.checkpoint.record
                log.info("checkpoint %d proposed at seq %d", record.number, record.seq)
        except Exception:
            log.exception("proposing a checkpoint failed; retrying in %.0f s", every)
