"""Reputation: one server's, or every checked server's of a model, as of now."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from ledger.reputation_queries import model_views, newcomer_view, server_view

router = APIRouter(prefix="/api/v1", tags=["reputation"])
HEX_KEY = r"^[0-9a-f]{64}$"


def _now() -> int:
    return time.time_ns() // 1_000_000


@router.get(
    "/servers/{key}/reputation", summary="A server's trust, posterior, credible interval, state, spot-check rate"
)
def server_reputation(request: Request, key: Annotated[str, Path(pattern=HEX_KEY)]) -> dict[str, Any]:
    with request.app.state.engine.connect() as connection:
        return server_view(connection, key, _now())


@router.get("/reputation", summary="Every checked server of a model at once, and the prior of newcomers")
def model_reputation(request: Request, model: Annotated[str, Query(min_length=1, max_length=200)]) -> dict[str, Any]:
    now = _now()
    with request.app.state.engine.connect() as connection:
        return {
            "model_id": model,
            "as_of_ms": now,
            "newcomer": newcomer_view(connection, now),
            "servers": model_views(connection, model, now),
        }
