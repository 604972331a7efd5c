"""The ledger service's state as one typed object: what routes, the dashboard and background work share.

``create_app`` builds one ``LedgerService`` and keeps it on the application; handlers ask for it as a
dependency (``Service``), never through an untyped state bag. Background work (settling escrow, publishing
reputation snapshots in the DHT) belongs to the service too: the application's lifespan starts it once the
schema is checked and stops it at shutdown, so an app made by ``create_app`` runs the same in a test as under
``swarmtrust api serve``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import nacl.signing
from fastapi import Depends, Request
from sqlalchemy import Engine

from swarmtrust.api.login_throttle import LoginThrottle
from swarmtrust.api.metrics import ServiceMetrics
from swarmtrust.api.reputation_cache import ModelPageCache
from swarmtrust.ledger.checkpoints import Checkpointer
from swarmtrust.ledger.market import DEFAULT_WINDOW_MS
from swarmtrust.ledger.misbehaviour import Convictions
from swarmtrust.ledger.spotchecks import SpotChecks

if TYPE_CHECKING:  # admin_auth reads the service itself
    from swarmtrust.api.admin_auth import AdminCredentials

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0  # how long shutdown waits for a background task to see its stop signal


@dataclass(frozen=True)
class BackgroundTask:
    """Work the service runs in a thread of its own until told to stop: ``run(stop)`` returns once ``stop``
    is set (it waits on it between rounds)."""

    name: str
    run: Callable[[threading.Event], None]


@dataclass
class LedgerService:
    engine: Engine
    ledger_key: nacl.signing.SigningKey
    spot_checks: SpotChecks
    convictions: Convictions
    metrics: ServiceMetrics
    checkpointer: Checkpointer  # proposes checkpoints and keeps the state's leaves for proofs
    admin: AdminCredentials | None = None  # None: administration and the dashboard are off
    dashboard_refresh_seconds: float = 10.0
    challenge_window_ms: int = DEFAULT_WINDOW_MS
    background: Sequence[BackgroundTask] = ()
    reputation_pages: ModelPageCache = field(default_factory=ModelPageCache)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)  # the dashboard's login form
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    @property
    def ledger_public_key(self) -> bytes:
        return bytes(self.ledger_key.verify_key)

    def start_background(self) -> None:
        """Start every background task in a daemon thread (the lifespan calls this once)."""
        self._stop.clear()
        for task in self.background:
            thread = threading.Thread(target=task.run, args=(self._stop,), name=task.name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_background(self) -> None:
        """Signal every background task to stop and wait for each (at most ``STOP_WAIT_S``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(STOP_WAIT_S)
            if thread.is_alive():
                log.warning("background task %s did not stop within %.0f s", thread.name, STOP_WAIT_S)
        self._threads.clear()


def ledger_service(request: Request) -> LedgerService:
    """The service of the application handling ``request``."""
    service: LedgerService = request.app.state.service
    return service


Service = Annotated[LedgerService, Depends(ledger_service)]
