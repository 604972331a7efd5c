"""Publishing a server in the DHT: a signed announcement per block, refreshed before it expires."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nacl.signing

from swarmtrust.node.dht import to_dht_value
from swarmtrust.node.model.span import Span
from swarmtrust.node.server.registration import LedgerRegistration
from swarmtrust.node.tensors import wire_dtype
from swarmtrust.protocol.announcements import AnnouncedState, ServerAnnouncement
from swarmtrust.protocol.digests import dtype_named
from swarmtrust.protocol.signing import sign_record

log = logging.getLogger(__name__)


class Announcer:
    def __init__(
        self,
        dht: Any,
        key: nacl.signing.SigningKey,
        span: Span,
        *,
        name: str,
        throughput: float,
        ttl: float,
        ledger: LedgerRegistration | None = None,
        ledger_period: float = 60.0,
    ) -> None:
        self._dht = dht
        self._key = key
        self._span = span
        self._name = name
        self._throughput = throughput
        self._ttl = ttl
        self._dtype = dtype_named(wire_dtype(next(span.layers[0].parameters())))
        self._ledger = ledger
        self._ledger_period = ledger_period
        self._ledger_due = 0.0  # monotonic time of the next heartbeat to the ledger

    def announcement(self, state: AnnouncedState, ttl: float | None = None) -> ServerAnnouncement:
        now = time.time_ns() // 1_000_000
        return ServerAnnouncement(
            server_key=bytes(self._key.verify_key),
            peer_id=self._dht.peer_id.to_base58(),
            name=self._name,
            model_id=self._span.model_id,
            block_start=self._span.start,
            block_end=self._span.end,
            layer_digests=tuple(self._span.layer_digests),
            dtype=self._dtype,
            throughput=self._throughput,
            state=state,
            announced_ms=now,
            expires_ms=now + int((ttl or self._ttl) * 1000),
        )

    async def announce(self, state: AnnouncedState = "online") -> None:
        record = self.announcement(state)
        value = to_dht_value("announce", sign_record(record, self._key))
        subkey = record.server_key.hex()
        expiration = record.expires_ms / 1000
        results = await asyncio.gather(
            *(self._dht.store(key, value, expiration, subkey=subkey, return_future=True) for key in record.dht_keys())
        )
        if not all(results):
            log.warning(
                "some DHT peers did not store the announcement (stored for %d of %d blocks)", sum(results), len(results)
            )

    @property
    def throughput(self) -> float:
        return self._throughput

    async def move_to(self, span: Span, throughput: float) -> None:
        """Serve ``span`` from now on: the old blocks are announced offline, the new ones online."""
        await self.announce("offline")
        self._span, self._throughput = span, throughput
        await self.announce("online")
        await self.tell_ledger("online", force=True)

    async def tell_ledger(self, state: AnnouncedState, *, force: bool = False) -> None:
        """Announce to the ledger when a heartbeat is due (or ``force``); valid for three heartbeats."""
        if self._ledger is None or (not force and time.monotonic() < self._ledger_due):
            return
        self._ledger_due = time.monotonic() + self._ledger_period
        await self._ledger.post_async(self.announcement(state, ttl=3 * self._ledger_period))

    async def run(self, period: float) -> None:
        """Re-announce every ``period`` seconds until cancelled."""
        while True:
            try:
                await self.announce("online")
                await self.tell_ledger("online")
            except Exception:  # a DHT hiccup must not stop the server; the next round retries
                log.exception("announcing in the DHT failed; retrying in %.0f s", period)
            await asyncio.sleep(period)
