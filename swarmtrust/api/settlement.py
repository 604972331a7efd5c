"""Releasing due escrow in the background of the ledger service (``api serve --settle-interval``)."""

from __future__ import annotations

import logging
import threading

import nacl.signing
from sqlalchemy import Engine

from swarmtrust.ledger.market import settle

log = logging.getLogger(__name__)


def settle_periodically(
    engine: Engine, ledger_key: nacl.signing.SigningKey, window_ms: int, every: float, stop: threading.Event
) -> None:
    """Every ``every`` seconds until ``stop``: release the holds whose challenge window has passed. A failed
    round is logged and retried at the next; the holds wait in escrow meanwhile, nothing is lost."""
    while not stop.wait(every):
        try:
            while True:  # a backlog is released in batches, one settlement event each
                taken, released = settle(engine, ledger_key, window_ms=window_ms)
                if taken is not None:
                    log.info("settlement %d released %d escrow holds", taken.seq, released)
                if taken is None or released == 0:
                    break
        except Exception:
            log.exception("releasing due escrow failed; retrying in %.0f s", every)
