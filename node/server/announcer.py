"""Publishing a server in the DHT: a signed announcement per block, refreshed before it expires."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nacl.signing

from node.announcements import ServerAnnouncement
from node.dht import to_dht_value
from node.model.span import Span
from node.signing import sign_record
from node.tensors import wire_dtype

log = logging.getLogger(__name__)


class Announcer:
    def __init__(
        self, dht: Any, key: nacl.signing.SigningKey, span: Span, *, name: str, throughput: float, ttl: float
    ) -> None:
        self._dht = dht
        self._key = key
        self._span = span
        self._name = name
        self._throughput = throughput
        self._ttl = ttl
        self._dtype = wire_dtype(next(span.layers[0].parameters()))

    def announcement(self, state: str) -> ServerAnnouncement:
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
            expires_ms=now + int(self._ttl * 1000),
        )

    async def announce(self, state: str = "online") -> None:
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

    async def run(self, period: float) -> None:
        """Re-announce every ``period`` seconds until cancelled."""
        while True:
            try:
                await self.announce("online")
            except Exception:  # a DHT hiccup must not stop the server; the next round retries
                log.exception("announcing in the DHT failed; retrying in %.0f s", period)
            await asyncio.sleep(period)
