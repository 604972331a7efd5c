"""What the client knows of servers' reputations: from the ledger's REST API, or its signed DHT snapshot."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from swarmtrust.node.dht import from_dht_value
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.checkpoint_proofs import FinalityProof, checkpoint_proof_key
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.newcomers import COHORT_START
from swarmtrust.protocol.reputation_snapshot import SnapshotEntry, snapshot_key
from swarmtrust.protocol.rest import ReputationBatch, ReputationView
from swarmtrust.protocol.signing import Signed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerTrust:
    state: str  # newcomer, trusted or quarantined
    posterior: Beta  # the long-horizon posterior, as of the ledger's answer
    spot_check_rate: float
    bonded: bool = True  # the ledger's own summary of the bond rule (a ledger that does not say: assumed)
    bond: int | None = None  # micro-credits in its bond (None: the ledger did not say; then ``bonded`` decides)
    price: int | None = None  # its quoted micro-credits per block-token, as the ledger holds it now

    def sample(self, rng: random.Random) -> float:
        return self.posterior.sample(rng)

    def lower_bound(self, level: float = 0.05) -> float:
        return self.posterior.lower_bound(level)


UNKNOWN = ServerTrust("newcomer", COHORT_START, 1.0)  # no ledger: treat everyone as a newcomer


@dataclass(frozen=True)
class ReputationBook:
    servers: dict[str, ServerTrust] = field(default_factory=dict)
    newcomer: ServerTrust = UNKNOWN  # the prior of servers the ledger has not checked yet
    source: str = "none"  # api, dht or none
    checkpoint: tuple[int, bytes] | None = None  # the final checkpoint the answer stood on (number, digest)

    def of(self, key: str) -> ServerTrust:
        return self.servers.get(key, self.newcomer)

    @classmethod
    def from_batch(cls, batch: ReputationBatch, source: str) -> ReputationBook:
        ref = batch.checkpoint
        checkpoint = (ref.number, bytes.fromhex(ref.digest)) if ref is not None else None
        servers = {key: _trust(view) for key, view in batch.servers.items()}
        return cls(servers, _trust(batch.newcomer), source, checkpoint)


def _trust(view: ReputationView) -> ServerTrust:
    given = view.model_fields_set  # a ledger that does not say a bond or price: None, and ``bonded`` decides
    return ServerTrust(
        view.state,
        Beta(view.posterior.alpha, view.posterior.beta),
        view.spot_check_rate,
        view.bonded,
        view.bond if "bond" in given else None,
        view.price if "price" in given else None,
    )


def _ledger_record(dht: Any, key: str, ledger_key: bytes, kind: str) -> Signed[Any] | None:
    """The record of ``kind`` that ``ledger_key`` signed and stored under DHT ``key`` (its subkey), if there is
    one; WireFormatError or SignatureError when what is stored there does not verify."""
    entries = dht.get(key, latest=True)
    if entries is None or not isinstance(entries.value, dict):
        return None
    item = entries.value.get(ledger_key.hex())
    if item is None:
        return None
    found, signed = from_dht_value(item.value)
    return signed if found == kind and signed.signer == ledger_key else None


def reputation_from_dht(dht: Any, model_id: str, ledger_key: bytes, now_ms: int) -> ReputationBook | None:
    """The book from the snapshot the pinned ledger key signed in the DHT, if there is a live one."""
    try:
        signed = _ledger_record(dht, snapshot_key(model_id), ledger_key, "reputation")
    except (WireFormatError, SignatureError) as exc:
        log.warning("ignoring a reputation snapshot that does not verify: %s", exc)
        return None
    if signed is None:
        return None
    snapshot = signed.record
    if snapshot.model_id != model_id or snapshot.expires_ms < now_ms:
        return None
    servers = {k: _from_entry(e) for k, e in snapshot.servers().items()}
    checkpoint = (snapshot.checkpoint_number, snapshot.checkpoint) if snapshot.checkpoint is not None else None
    return ReputationBook(servers, _from_entry(snapshot.newcomer_entry()), "dht", checkpoint)


def proof_from_dht(dht: Any, ledger_key: bytes, number: int) -> FinalityProof | None:
    """The proof of checkpoint ``number`` that the pinned ledger key published in the DHT, if the DHT holds that
    one (it carries the latest final checkpoint's only); WireFormatError or SignatureError for a proof that is
    not one."""
    signed = _ledger_record(dht, checkpoint_proof_key(ledger_key), ledger_key, "checkpoint")
    if signed is None or signed.record.number != number:
        return None
    return FinalityProof.from_wire(signed.record.proof)


def _from_entry(entry: SnapshotEntry) -> ServerTrust:
    return ServerTrust(entry.state, entry.posterior, entry.spot_check_rate, entry.bonded, entry.bond, entry.price)


def fetch_reputation(ledger_url: str, model_id: str, timeout: float = 5.0) -> ReputationBook:
    """The book from the ledger's REST API; raises ``LedgerApiError`` when it cannot be had (a malformed answer
    included, so that the caller falls back to the DHT snapshot)."""
    with LedgerApi(ledger_url, timeout=timeout) as api:
        return ReputationBook.from_batch(api.reputation(model_id), "api")
