"""Signed requests: ``SignedBy`` is the public key that signed this request, once it is verified and new.

A signature seen before (within the replay window) is refused, across every API process, because the
record of seen signatures is a table with a unique key; expired entries are pruned as new ones arrive.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.errors import ApiError
from swarmtrust.api.service import ledger_service
from swarmtrust.ledger.db import write_transaction
from swarmtrust.ledger.models import SeenRequest
from swarmtrust.protocol.digests import blake2b_256
from swarmtrust.protocol.http_signing import (
    KEY_HEADER,
    NONCE_HEADER,
    REPLAY_WINDOW_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RequestAuthError,
    verify_request,
)

# Declared for the OpenAPI document (every signed route needs all four headers); verify_request reads them.
_HEADERS = {
    KEY_HEADER: "Hex Ed25519 public key of the sender",
    TIMESTAMP_HEADER: "Milliseconds since the Unix epoch; within a minute of the service's clock",
    NONCE_HEADER: "16 random bytes, hex",
    SIGNATURE_HEADER: "Hex Ed25519 signature over swarmtrust/request/v1 + [method, path, body digest, time, nonce]",
}
_SCHEMES = [
    Security(APIKeyHeader(name=name, scheme_name=name, description=text, auto_error=False))
    for name, text in _HEADERS.items()
]


async def signed_by(
    request: Request,
    _key: str | None = _SCHEMES[0],
    _timestamp: str | None = _SCHEMES[1],
    _nonce: str | None = _SCHEMES[2],
    _signature: str | None = _SCHEMES[3],
) -> bytes:
    body = await request.body()
    path = request.scope.get("raw_path", request.url.path.encode()).decode()
    if request.url.query:
        path += "?" + request.url.query
    now = time.time_ns() // 1_000_000
    try:
        verified = verify_request(request.headers, request.method, path, body, now)
    except RequestAuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    digest = blake2b_256(verified.signature).hex()
    fresh = await run_in_threadpool(_remember, ledger_service(request).engine, digest, verified.timestamp_ms, now)
    if not fresh:
        raise ApiError(401, "replayed", "this signed request was already received; sign a new one")
    return verified.signer


def _remember(engine: Engine, digest: str, timestamp_ms: int, now: int) -> bool:
    """Record a signature as seen; False if it already was (a replay)."""
    try:
        with write_transaction(engine) as connection:
            connection.execute(delete(SeenRequest).where(SeenRequest.expires_ms < now - REPLAY_WINDOW_MS))
            connection.execute(
                insert(SeenRequest).values(signature_digest=digest, expires_ms=timestamp_ms + REPLAY_WINDOW_MS)
            )
    except IntegrityError:
        return False
    return True


SignedBy = Annotated[bytes, Depends(signed_by)]
