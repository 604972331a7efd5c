"""Domain-separated Ed25519 signatures over canonical record bytes, and the ``Signed`` envelope.

A signature covers ``record.DOMAIN + body``. Every body is a msgpack array, whose first byte (0x90-0x9f,
0xdc or 0xdd) is never ASCII, so no prefix-plus-body can be read as another domain's message.
On the wire a signed record is the canonical array ``[body, signature]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nacl.exceptions
import nacl.signing

from swarmtrust.protocol.canonical import pack, unpack_list
from swarmtrust.protocol.digests import record_digest
from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.records import WireRecord

R = TypeVar("R", bound=WireRecord)
R_co = TypeVar("R_co", bound=WireRecord, covariant=True)  # a Signed[Receipt] is a Signed[any record]: read-only

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
_ENVELOPE_OVERHEAD = 80  # msgpack framing of [bin body, bin64 signature], generously rounded


@dataclass(frozen=True, init=False)
class Signed(Generic[R_co]):
    """A record with the exact bytes that were signed and the signature over them."""

    record: R_co
    body: bytes
    signature: bytes
    digest: bytes = field(init=False, repr=False, compare=False)

    def __init__(self, record: R_co, body: bytes, signature: bytes) -> None:
        # Frozen, so the fields go straight into the instance's dict: one update instead of the generated
        # __init__'s object.__setattr__ per field (one Signed is built per receipt ingested).
        self.__dict__.update(record=record, body=body, signature=signature, digest=record_digest(record.DOMAIN, body))

    @property
    def signer(self) -> bytes:
        return self.record.signer

    def to_wire(self) -> bytes:
        return pack([self.body, self.signature])


def sign_record(record: R, key: nacl.signing.SigningKey) -> Signed[R]:
    """Sign ``record`` with ``key``, which must be the key its signer field names."""
    public = bytes(key.verify_key)
    if record.signer != public:
        raise ValueError(f"{type(record).__name__} names signer {record.signer.hex()} but the key is {public.hex()}")
    body = record.encode()
    signature = key.sign(record.DOMAIN + body).signature
    return Signed(record, body, signature)


def verify_signature(domain: bytes, body: bytes, signature: bytes, public_key: bytes) -> None:
    """Raise SignatureError unless ``signature`` is ``public_key``'s over ``domain + body``."""
    if len(signature) != SIGNATURE_SIZE or len(public_key) != PUBLIC_KEY_SIZE:
        raise SignatureError("a signature is 64 bytes and a public key 32 bytes")
    try:
        nacl.signing.VerifyKey(public_key).verify(domain + body, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise SignatureError(f"signature does not verify under key {public_key.hex()}") from exc


def verify_record(record_type: type[R], body: bytes, signature: bytes) -> Signed[R]:
    """Decode ``body`` as ``record_type`` and check ``signature`` against the record's own signer key."""
    record = record_type.decode(body)
    verify_signature(record_type.DOMAIN, body, signature, record.signer)
    return Signed(record, body, signature)


def open_signed(record_type: type[R], wire: bytes) -> Signed[R]:
    """Decode a ``[body, signature]`` envelope and verify it; the inverse of ``Signed.to_wire``."""
    body, signature = _envelope(record_type, wire)
    return verify_record(record_type, body, signature)


def peek_record(record_type: type[R], wire: bytes) -> R:
    """The record in a ``[body, signature]`` envelope, decoded strictly but its signature not yet checked: for
    choosing what to do with a request (whose is it?) before the checks that count. WireFormatError for
    anything that is not such an envelope (a map, a string, a truncated array ...)."""
    body, _ = _envelope(record_type, wire)
    return record_type.decode(body)


def open_signed_many(
    record_type: type[R], wires: Sequence[bytes]
) -> list[Signed[R] | WireFormatError | SignatureError]:
    """``open_signed`` of each of ``wires``: the verified record, or the error that rejects it.

    Every item is decoded first and the signatures are then checked in one run: alternating Python
    decoding with Ed25519's table lookups evicts both from the CPU caches, which costs a few µs a record.
    """
    decoded: list[tuple[R, bytes, bytes] | WireFormatError] = []
    for wire in wires:
        try:
            body, signature = _envelope(record_type, wire)
            decoded.append((record_type.decode(body), body, signature))
        except WireFormatError as exc:
            decoded.append(exc)
    checked: list[tuple[R, bytes, bytes] | WireFormatError | SignatureError] = []
    for item in decoded:
        if not isinstance(item, WireFormatError):
            try:
                verify_signature(record_type.DOMAIN, item[1], item[2], item[0].signer)
            except SignatureError as exc:
                checked.append(exc)
                continue
        checked.append(item)
    return [item if isinstance(item, SwarmtrustError) else Signed(*item) for item in checked]


def _envelope(record_type: type[WireRecord], wire: bytes) -> tuple[bytes, bytes]:
    """The body and signature of a ``[body, signature]`` envelope (neither checked yet)."""
    # Only the body is signed, so only the body must be canonical; the envelope is just framing.
    if type(wire) is not bytes:
        raise WireFormatError(f"signed {record_type.__name__}: expected bytes, got {type(wire).__name__}")
    parts = unpack_list(
        wire,
        max_bytes=record_type.MAX_BYTES + _ENVELOPE_OVERHEAD,
        what=f"signed {record_type.__name__}",
        canonical=False,
    )
    if len(parts) != 2 or type(parts[0]) is not bytes or type(parts[1]) is not bytes:
        raise WireFormatError(f"signed {record_type.__name__}: expected [body bytes, signature bytes]")
    return parts[0], parts[1]
