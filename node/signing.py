"""Domain-separated Ed25519 signatures over canonical record bytes, and the ``Signed`` envelope.

A signature covers ``record.DOMAIN + body``. Every body is a msgpack array, whose first byte (0x90-0x9f,
0xdc or 0xdd) is never ASCII, so no prefix-plus-body can be read as another domain's message.
On the wire a signed record is the canonical array ``[body, signature]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nacl.exceptions
import nacl.signing

from node.canonical import pack, unpack_list
from node.digests import record_digest
from node.errors import SignatureError, WireFormatError
from node.records import WireRecord

R = TypeVar("R", bound=WireRecord)

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
_ENVELOPE_OVERHEAD = 80  # msgpack framing of [bin body, bin64 signature], generously rounded


@dataclass(frozen=True)
class Signed(Generic[R]):
    """A record with the exact bytes that were signed and the signature over them."""

    record: R
    body: bytes
    signature: bytes
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", record_digest(self.record.DOMAIN, self.body))

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
    # Only the body is signed, so only the body must be canonical; the envelope is just framing.
    parts = unpack_list(
        wire,
        max_bytes=record_type.MAX_BYTES + _ENVELOPE_OVERHEAD,
        what=f"signed {record_type.__name__}",
        canonical=False,
    )
    if len(parts) != 2 or type(parts[0]) is not bytes or type(parts[1]) is not bytes:
        raise WireFormatError(f"signed {record_type.__name__}: expected [body bytes, signature bytes]")
    return verify_record(record_type, parts[0], parts[1])
