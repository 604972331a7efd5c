"""What route handlers share: the ledger engine, the clock, the hex-key path and query types."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine

from swarmtrust.api.errors import ApiError
from swarmtrust.api.service import ledger_service
from swarmtrust.protocol.records import free_of_controls

HEX_KEY = r"^[0-9a-f]{64}$"
HEX_ID = r"^[0-9a-f]{32}$"

KeyPath = Annotated[str, Path(pattern=HEX_KEY, description="Hex Ed25519 public key (64 lowercase hex digits)")]
KeyQuery = Annotated[str | None, Query(pattern=HEX_KEY, description="Hex public key of a server")]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ledger_engine(request: Request) -> Engine:
    return ledger_service(request).engine


LedgerEngine = Annotated[Engine, Depends(ledger_engine)]


def plain_query(request: Request) -> None:
    """Refuses query parameters holding control characters (a NUL, an escape), which no parameter of this API
    takes and which some databases refuse deep in a query: a clear 400 at the door instead."""
    for name, value in request.query_params.multi_items():
        if not (free_of_controls(name) and free_of_controls(value)):
            raise ApiError(400, "invalid_request", f"query parameter {name!r} holds control characters")
