"""Announcing a server to the ledger service (``node start --ledger URL``), beside the DHT.

The ledger keeps a directory of servers for people (the dashboard) and auditors: the same signed
``ServerAnnouncement`` the DHT carries, posted at start, on every heartbeat and when going offline. The
ledger records an event only when something material changed; a heartbeat just says "still here".
A ledger that cannot be reached never stops the server: it logs, and the next heartbeat tries again.

Before serving, ``check_registered_dtype`` asks the ledger which dtypes the model is registered for and
refuses to start in another (``DtypeNotAllowedError``): clients would not route to the server, and verifiers
would fail its sessions. A model without a registration (or a ledger that cannot be reached) starts, warned.
"""

from __future__ import annotations

import asyncio
import logging

import nacl.signing

from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.serving_dtypes import check_serving_dtype, history_from_answer
from swarmtrust.protocol.signing import sign_record

log = logging.getLogger(__name__)


class LedgerRegistration:
    def __init__(self, ledger_url: str, key: nacl.signing.SigningKey, *, timeout: float = 10.0) -> None:
        self._api = LedgerApi(ledger_url, key, timeout=timeout)
        self._key = key

    @property
    def api(self) -> LedgerApi:
        return self._api

    def close(self) -> None:
        self._api.close()

    def post(self, announcement: ServerAnnouncement) -> str | None:
        """Send one announcement; the ledger's answer (recorded, refreshed, stale), or None if it failed."""
        wire = sign_record(announcement, self._key).to_wire()
        try:
            answer = self._api.request("POST", "/servers/announce", wire, "application/octet-stream").json()
        except LedgerApiError as exc:
            log.warning("could not announce this server to the ledger: %s", exc)
            return None
        status: str = answer["status"]
        return status

    async def post_async(self, announcement: ServerAnnouncement) -> str | None:
        return await asyncio.to_thread(self.post, announcement)


def check_registered_dtype(ledger_url: str, key: nacl.signing.SigningKey, model_id: str, dtype: str) -> None:
    """DtypeNotAllowedError when the model's registration at the ledger does not allow ``dtype``; a warning
    (and nothing else) when it has none, or the ledger cannot say."""
    try:
        with LedgerApi(ledger_url, key, timeout=10.0) as api:
            history = history_from_answer(model_id, api.model(model_id))
    except (LedgerApiError, WireFormatError) as exc:
        log.warning(
            "cannot read the registration of %s from the ledger (%s); serving %s unchecked", model_id, exc, dtype
        )
        return
    if history.latest is None:
        log.warning(
            "model %s is not registered at the ledger: clients and verifiers expect its config.json torch_dtype; "
            "serving %s",
            model_id,
            dtype,
        )
        return
    check_serving_dtype(dtype, history)
