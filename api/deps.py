"""What route handlers share: the ledger engine, the clock, the hex-key path and query types."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine

HEX_KEY = r"^[0-9a-f]{64}$"
HEX_ID = r"^[0-9a-f]{32}$"

KeyPath = Annotated[str, Path(pattern=HEX_KEY, description="Hex Ed25519 public key (64 lowercase hex digits)")]
KeyQuery = Annotated[str | None, Query(pattern=HEX_KEY, description="Hex public key of a server")]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ledger_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


LedgerEngine = Annotated[Engine, Depends(ledger_engine)]
