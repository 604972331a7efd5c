"""Reading server announcements from the DHT, verified again here (never trusting a peer's validator)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from swarmtrust.node.dht import from_dht_value
from swarmtrust.protocol.announcements import ServerAnnouncement, block_key
from swarmtrust.protocol.errors import SignatureError, WireFormatError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerInfo:
    """An online server as announced, with the key it signed with."""

    announcement: ServerAnnouncement

    @property
    def key(self) -> str:
        return self.announcement.server_key.hex()

    @property
    def start(self) -> int:
        return self.announcement.block_start

    @property
    def end(self) -> int:
        return self.announcement.block_end


def parse_block_entries(entries: Any, model_id: str, block: int, now_ms: int) -> list[ServerAnnouncement]:
    """Valid, online, unexpired announcements of ``model_id`` covering ``block`` among one DHT value."""
    found: list[ServerAnnouncement] = []
    if entries is None or not isinstance(entries.value, dict):
        return found
    for subkey, item in entries.value.items():
        try:
            _, signed = from_dht_value(item.value)
        except (WireFormatError, SignatureError) as exc:
            log.debug("ignoring a DHT entry under %s: %s", subkey, exc)
            continue
        record = signed.record
        if not isinstance(record, ServerAnnouncement) or subkey != record.server_key.hex():
            continue
        if record.model_id != model_id or not record.block_start <= block < record.block_end:
            continue
        if record.state == "online" and record.expires_ms > now_ms:
            found.append(record)
    return found


def discover_servers(dht: Any, model_id: str, num_blocks: int) -> list[ServerInfo]:
    """Every online server of ``model_id``, newest announcement per server key."""
    now_ms = time.time_ns() // 1_000_000
    latest: dict[bytes, ServerAnnouncement] = {}
    for block in range(num_blocks):
        entries = dht.get(block_key(model_id, block), latest=True)
        for record in parse_block_entries(entries, model_id, block, now_ms):
            known = latest.get(record.server_key)
            if known is None or record.announced_ms > known.announced_ms:
                latest[record.server_key] = record
    return [ServerInfo(record) for record in latest.values()]
