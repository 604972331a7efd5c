"""hivemind DHT set-up for swarmtrust: loopback-safe networking defaults and signed-record validation.

Every value swarmtrust stores in the DHT is a signed record in the envelope ``[kind, body, signature]``;
``SignedRecordValidator`` drops anything else, anything badly signed, anything stored under a subkey
that is not its signer's key or under a DHT key the record does not name, and anything whose DHT
expiry outlives the expiry it signed. (This module is imported by the DHT's forked process: keep it
importable and free of state.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hivemind.dht.crypto import DHTRecord
from hivemind.dht.routing import DHTID
from hivemind.dht.validation import RecordValidatorBase
from hivemind.utils.serializer import MSGPackSerializer

from swarmtrust.node.network import NetworkOptions
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.canonical import pack, unpack_list
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.reputation_snapshot import ReputationSnapshot
from swarmtrust.protocol.signing import Signed, verify_record

log = logging.getLogger(__name__)

DHT_RECORD_KINDS: dict[str, type[Any]] = {"announce": ServerAnnouncement, "reputation": ReputationSnapshot}
_EXPIRY_SLACK_S = 1.0  # DHT expiry is a float of seconds; the signed one is integer milliseconds


def to_dht_value(kind: str, signed: Signed[Any]) -> bytes:
    return pack([kind, signed.body, signed.signature])


def from_dht_value(value: bytes) -> tuple[str, Signed[Any]]:
    """Decode and verify a DHT value; WireFormatError or SignatureError when it is not a valid record."""
    if not isinstance(value, bytes):
        raise WireFormatError(f"a DHT value must be bytes, got {type(value).__name__}")
    parts = unpack_list(value, max_bytes=64_000, what="DHT value")
    if len(parts) != 3 or not isinstance(parts[0], str) or parts[0] not in DHT_RECORD_KINDS:
        raise WireFormatError("a DHT value must be [kind, body, signature] of a known kind")
    kind, body, signature = parts
    if type(body) is not bytes or type(signature) is not bytes:
        raise WireFormatError("DHT value body and signature must be bytes")
    return kind, verify_record(DHT_RECORD_KINDS[kind], body, signature)


class SignedRecordValidator(RecordValidatorBase):  # type: ignore[misc]
    """Accepts only signed swarmtrust records, bound to their DHT key, subkey and expiry."""

    def validate(self, record: DHTRecord) -> bool:
        try:
            _, signed = from_dht_value(MSGPackSerializer.loads(record.value))
            if MSGPackSerializer.loads(record.subkey) != signed.signer.hex():
                return False
            if record.key not in {DHTID.generate(source=key).to_bytes() for key in signed.record.dht_keys()}:
                return False
            return bool(record.expiration_time <= signed.record.expires_ms / 1000 + _EXPIRY_SLACK_S)
        except Exception:
            return False

    def sign_value(self, record: DHTRecord) -> bytes:
        return record.value  # type: ignore[no-any-return]  # values are signed before they are stored

    def strip_value(self, record: DHTRecord) -> bytes:
        return record.value  # type: ignore[no-any-return]  # readers verify the signature again themselves

    def merge_with(self, other: RecordValidatorBase) -> bool:
        return False


def start_dht(initial_peers: Sequence[str], network: NetworkOptions, *, client_mode: bool = False) -> Any:
    """A running hivemind DHT with swarmtrust's validator (forks a process: call before starting threads)."""
    from hivemind import DHT

    kwargs = network.dht_kwargs()
    log.info("starting DHT on %s (client_mode=%s, %s)", kwargs["host_maddrs"], client_mode, kwargs)
    return DHT(
        initial_peers=list(initial_peers),
        start=True,
        client_mode=client_mode,
        record_validators=[SignedRecordValidator()],
        **kwargs,
    )
