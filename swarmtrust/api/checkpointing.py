"""Proposing checkpoints in the background of the ledger service (``api serve --checkpoint-interval``)."""

from __future__ import annotations

import logging
import threading

import nacl.signing

from swarmtrust.ledger.checkpoints import Checkpointer

log = logging.getLogger(__name__)


def checkpoint_periodically(
    checkpointer: Checkpointer, ledger_key: nacl.signing.SigningKey, every: float, stop: threading.Event
) -> None:
    """Every ``every`` seconds until ``stop``: propose a checkpoint of the events since the last one (none when no
    event came). A failed round is logged and retried at the next; the events wait, nothing is lost."""
    while not stop.wait(every):
        try:
            done = checkpointer.propose(ledger_key)
            if done.status == "recorded" and done.checkpoint is not None:
                record = done.checkpoint.record
                log.info("checkpoint %d proposed at seq %d", record.number, record.seq)
        except Exception:
            log.exception("proposing a checkpoint failed; retrying in %.0f s", every)
