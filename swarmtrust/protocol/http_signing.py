"""Signed HTTP requests to the ledger service: who sent it, exactly what, and when.

The signature covers the method, the raw path with its query, a digest of the body and a timestamp,
under the domain ``swarmtrust/request/v1``; the service refuses stale timestamps and any signature it
has already seen within the window, so a captured request cannot be replayed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar

import nacl.signing

from swarmtrust.protocol.digests import blake2b_256
from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import WireRecord, size, text, within
from swarmtrust.protocol.signing import sign_record, verify_signature

KEY_HEADER = "X-Swarmtrust-Key"
TIMESTAMP_HEADER = "X-Swarmtrust-Timestamp"
NONCE_HEADER = "X-Swarmtrust-Nonce"
SIGNATURE_HEADER = "X-Swarmtrust-Signature"
REPLAY_WINDOW_MS = 60_000  # a signed request is accepted this long before or after its timestamp, once


class RequestAuthError(SwarmtrustError):
    """A request that is not signed, not signed right, stale, or replayed."""


class RequestSignature(WireRecord, tag=1, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/request/v1"
    MAX_BYTES: ClassVar[int] = 4096
    SIGNER_FIELD: ClassVar[str] = "signer_key"

    signer_key: Annotated[bytes, size(32)]
    method: Annotated[str, text(10)]
    path: Annotated[str, text(2048)]  # raw path and query, exactly as sent
    body_digest: Annotated[bytes, size(32)]
    timestamp_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    nonce: Annotated[bytes, size(16)]  # random: two identical requests in one millisecond still differ


def sign_request(
    key: nacl.signing.SigningKey, method: str, path: str, body: bytes, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The headers that sign a request."""
    record = RequestSignature(
        signer_key=bytes(key.verify_key),
        method=method.upper(),
        path=path,
        body_digest=blake2b_256(body),
        timestamp_ms=timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000,
        nonce=os.urandom(16),
    )
    signed = sign_record(record, key)
    return {
        KEY_HEADER: record.signer_key.hex(),
        TIMESTAMP_HEADER: str(record.timestamp_ms),
        NONCE_HEADER: record.nonce.hex(),
        SIGNATURE_HEADER: signed.signature.hex(),
    }


@dataclass(frozen=True)
class VerifiedRequest:
    signer: bytes
    signature: bytes
    timestamp_ms: int


def verify_request(
    headers: Mapping[str, str], method: str, path: str, body: bytes, now_ms: int, window_ms: int = REPLAY_WINDOW_MS
) -> VerifiedRequest:
    """Check a request's signature headers; RequestAuthError says what is wrong. Replays are the caller's
    to refuse (the signature is returned so it can be remembered for the window)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        key = bytes.fromhex(lowered[KEY_HEADER.lower()])
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
        nonce = bytes.fromhex(lowered[NONCE_HEADER.lower()])
        signature = bytes.fromhex(lowered[SIGNATURE_HEADER.lower()])
    except KeyError as exc:
        raise RequestAuthError(f"unsigned request: the {exc.args[0]} header is missing") from None
    except ValueError:
        raise RequestAuthError("malformed signature headers (hex key and signature, integer timestamp)") from None
    if abs(now_ms - timestamp) > window_ms:
        raise RequestAuthError(f"stale request: its timestamp is {abs(now_ms - timestamp)} ms away from now")
    try:
        record = RequestSignature(key, method.upper(), path, blake2b_256(body), timestamp, nonce)
        verify_signature(RequestSignature.DOMAIN, record.encode(), signature, key)
    except (WireFormatError, SignatureError) as exc:
        raise RequestAuthError(f"bad request signature: {exc}") from None
    return VerifiedRequest(key, signature, timestamp)
