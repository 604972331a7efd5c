"""Server announcements: the signed DHT record saying who serves which blocks of which model.

Stored under one DHT key per block (``{model_id}.{block}``) with the server's hex public key as the
subkey, as Petals stores server infos. The signature covers the expiry too, so nobody can keep a
departed server's record alive, and the record names every key it may be stored under.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from swarmtrust.protocol.digests import DIGEST_SIZE, Dtype, span_digest
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_BLOCK, MAX_MODEL_ID, MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import FINITE, WireRecord, at_most, size, text, within

MAX_SPAN = 1024
AnnouncedState = Literal["online", "offline"]
STATES = frozenset(get_args(AnnouncedState))


def block_key(model_id: str, block: int) -> str:
    """The DHT key under which servers of ``block`` of ``model_id`` announce themselves."""
    return f"{model_id}.{block}"


class ServerAnnouncement(WireRecord, tag=1, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/announce/v1"
    MAX_BYTES: ClassVar[int] = 40_000
    SIGNER_FIELD: ClassVar[str] = "server_key"

    server_key: Annotated[bytes, size(32)]  # Ed25519 public key; signs this record and every receipt of the server
    peer_id: Annotated[str, text(128)]  # libp2p peer id (base58) to call the server at
    # display name chosen by the operator: untrusted text, escape it wherever it is shown
    name: Annotated[str, text(64)]
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    block_start: Annotated[int, within(0, MAX_BLOCK)]
    block_end: Annotated[int, within(1, MAX_BLOCK)]  # exclusive
    # weights digest of each block, so clients can check sub-span digests
    layer_digests: Annotated[tuple[Annotated[bytes, size(DIGEST_SIZE)], ...], at_most(MAX_SPAN)]
    dtype: Dtype  # compute dtype
    throughput: Annotated[float, FINITE]  # tokens per second through the whole span, measured by the server at start-up
    state: AnnouncedState  # online or offline
    announced_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    expires_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.block_start >= self.block_end:
            raise WireFormatError("ServerAnnouncement: empty block span")
        if len(self.layer_digests) != self.block_end - self.block_start:
            raise WireFormatError("ServerAnnouncement: one layer digest per block is required")
        if self.expires_ms <= self.announced_ms:
            raise WireFormatError("ServerAnnouncement: expires before it was announced")
        if not self.throughput >= 0:
            raise WireFormatError("ServerAnnouncement: throughput must be non-negative")

    def dht_keys(self) -> list[str]:
        return [block_key(self.model_id, block) for block in range(self.block_start, self.block_end)]

    def weights_digest(self, start: int, end: int) -> bytes:
        """Digest of the sub-span ``[start, end)`` of the announced blocks."""
        if not self.block_start <= start < end <= self.block_end:
            raise ValueError(f"blocks {start}:{end} are not within {self.block_start}:{self.block_end}")
        return span_digest(self.layer_digests[start - self.block_start : end - self.block_start])

    def summary(self) -> dict[str, Any]:
        return {
            "server_key": self.server_key.hex(),
            "peer_id": self.peer_id,
            "name": self.name,
            "model_id": self.model_id,
            "blocks": [self.block_start, self.block_end],
            "dtype": self.dtype,
            "throughput": self.throughput,
            "state": self.state,
        }
