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
from swarmtrust.protocol.checkpoint_proofs import CheckpointProofRecord
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.fork_reports import LedgerForkReport
from swarmtrust.protocol.reputation_snapshot import ReputationSnapshot
from swarmtrust.protocol.signing import Signed, verify_record

log = logging.getLogger(__name__)

DHT_RECORD_KINDS: dict[str, type[Any]] = {
    "announce": ServerAnnouncement,
    "reputation": ReputationSnapshot,
    "checkpoint": CheckpointProofRecord,
    "fork": LedgerForkReport,
}
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


class SwarmJoinError(SwarmtrustError):
    """The DHT did not start, or could not reach the swarm through its initial peers; the message says what to
    check."""


_PEER_EXAMPLE = "/ip4/127.0.0.1/tcp/PORT/p2p/PEER_ID, as `swarmtrust dht start` prints it"


def check_initial_peers(initial_peers: Sequence[str]) -> None:
    """Refuse an initial peer that is not a multiaddr ending in its peer id, before any daemon starts."""
    from hivemind.utils.multiaddr import Multiaddr

    for peer in initial_peers:
        try:
            protocols = [protocol.name for protocol in Multiaddr(peer).protocols()]
        except Exception as exc:  # the parser raises several kinds (ValueError, its own errors, KeyError)
            raise SwarmJoinError(f"--initial-peers {peer!r} is not a multiaddr ({exc}); use {_PEER_EXAMPLE}") from None
        if "p2p" not in protocols:
            raise SwarmJoinError(f"--initial-peers {peer!r} lacks the peer's id (/p2p/PEER_ID); use {_PEER_EXAMPLE}")


def start_dht(initial_peers: Sequence[str], network: NetworkOptions, *, client_mode: bool = False) -> Any:
    """A running hivemind DHT with swarmtrust's validator (forks a process: call before starting threads).

    SwarmJoinError when an initial peer is malformed or none can be reached."""
    from hivemind import DHT
    from hivemind.p2p import P2PDaemonError

    check_initial_peers(initial_peers)
    kwargs = network.dht_kwargs()
    log.info("starting DHT on %s (client_mode=%s, %s)", kwargs["host_maddrs"], client_mode, kwargs)
    try:
        return DHT(
            initial_peers=list(initial_peers),
            start=True,
            client_mode=client_mode,
            record_validators=[SignedRecordValidator()],
            **kwargs,
        )
    except P2PDaemonError as exc:
        raise SwarmJoinError(join_failure(str(exc), initial_peers)) from None


def join_failure(daemon_error: str, initial_peers: Sequence[str]) -> str:
    """What a p2p daemon's start-up error means for the operator, in one line."""
    said = daemon_error.strip().splitlines()[-1] if daemon_error.strip() else "no reason given"
    if "failed to connect to bootstrap peers" in said:
        return (
            f"could not reach any of --initial-peers ({', '.join(initial_peers)}): check that the peer is running, "
            "that this machine can reach its address, and that the address is the one it printed"
        )
    return f"the p2p daemon did not start ({said}); check --host and --port, and --initial-peers"
