"""The ledger-signed reputation snapshot published in the DHT, so routing works when the API cannot be reached.

Stored under ``{model_id}.reputation`` with the ledger's hex public key as the subkey. Clients accept only
the subkey of the ledger key they pinned, and only a snapshot that key signed. A snapshot names the ledger's
latest final checkpoint (``protocol.checkpoints``): a client that remembers a later one, or another under the same
number, refuses it. Entries are packed
(69 bytes a server: key, state, the long posterior's alpha and beta, the spot-check rate, and what the bond
rule needs: the bond in micro-credits and the price in micro-credits per block-token; see ``protocol.bond_rule``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar

import msgspec

from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import MAX_U32, WireRecord, size, text, within

STATE_CODES = {"newcomer": 0, "trusted": 1, "quarantined": 2}
STATE_NAMES = {code: name for name, code in STATE_CODES.items()}
BONDED = 0x80  # high bit of the state byte: the server's bond is enough for full routing weight
_ENTRY = struct.Struct("<32sBdddQI")
ENTRY_SIZE = _ENTRY.size  # bytes of one packed server entry
_NEWCOMER = struct.Struct("<BdddQI")
MAX_ENTRIES = 900  # 69 bytes each: the signed snapshot stays under the DHT value limit (node.dht)


def snapshot_key(model_id: str) -> str:
    return f"{model_id}.reputation"


@dataclass(frozen=True)
class SnapshotEntry:
    state: str
    alpha: float
    beta: float
    spot_check_rate: float
    bonded: bool = False
    bond: int = 0  # micro-credits
    price: int = 0  # micro-credits per block-token (0: none quoted)

    @property
    def posterior(self) -> Beta:
        return Beta(self.alpha, self.beta)


class ReputationSnapshot(WireRecord, tag=3, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/reputation-snapshot/v3"
    MAX_BYTES: ClassVar[int] = 63_000
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    entries: Annotated[bytes, msgspec.Meta(max_length=ENTRY_SIZE * MAX_ENTRIES)]  # whole entries (see the check)
    newcomer: Annotated[bytes, size(_NEWCOMER.size)]  # the prior of servers not in the snapshot
    made_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    expires_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    checkpoint_number: Annotated[int, within(0, MAX_U32)]  # the latest final checkpoint's number; 0: none yet
    checkpoint: Annotated[bytes, size(32)] | None  # its digest (``protocol.checkpoints.checkpoint_digest``)

    def check_consistency(self) -> None:
        if (self.checkpoint_number == 0) != (self.checkpoint is None):
            raise WireFormatError("ReputationSnapshot: a checkpoint digest goes with a checkpoint number above 0")
        if len(self.entries) % ENTRY_SIZE:
            raise WireFormatError(f"ReputationSnapshot.entries: expected whole packed entries of {ENTRY_SIZE} bytes")
        if self.expires_ms <= self.made_ms:
            raise WireFormatError("ReputationSnapshot: expires before it was made")
        self.servers()  # every state code must be known

    def dht_keys(self) -> list[str]:
        return [snapshot_key(self.model_id)]

    def servers(self) -> dict[str, SnapshotEntry]:
        out = {}
        for key, code, alpha, beta, rate, bond, price in _ENTRY.iter_unpack(self.entries):
            out[key.hex()] = SnapshotEntry(_state(code & ~BONDED), alpha, beta, rate, bool(code & BONDED), bond, price)
        return out

    def newcomer_entry(self) -> SnapshotEntry:
        code, alpha, beta, rate, bond, price = _NEWCOMER.unpack(self.newcomer)
        return SnapshotEntry(_state(code & ~BONDED), alpha, beta, rate, bool(code & BONDED), bond, price)


def _state(code: int) -> str:
    if code not in STATE_NAMES:
        raise WireFormatError(f"ReputationSnapshot: unknown state code {code}")
    return STATE_NAMES[code]


def pack_entries(servers: Mapping[str, SnapshotEntry]) -> bytes:
    return b"".join(
        _ENTRY.pack(bytes.fromhex(key), _code(e), e.alpha, e.beta, e.spot_check_rate, e.bond, e.price)
        for key, e in list(servers.items())[:MAX_ENTRIES]
    )


def pack_newcomer(entry: SnapshotEntry) -> bytes:
    return _NEWCOMER.pack(_code(entry), entry.alpha, entry.beta, entry.spot_check_rate, entry.bond, entry.price)


def _code(entry: SnapshotEntry) -> int:
    return STATE_CODES[entry.state] | (BONDED if entry.bonded else 0)
