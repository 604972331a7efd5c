"""Reputation as of now: one server's, or many at once (a whole model's, or a list of keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from swarmtrust.api.deps import KeyPath, LedgerEngine, now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.api.reputation_cache import ModelPageCache
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody
from swarmtrust.api.service import Service
from swarmtrust.ledger.checkpoints import latest_final_ref
from swarmtrust.ledger.reputation_queries import model_version, model_views, newcomer_view, server_view
from swarmtrust.protocol.rest import API_PREFIX, ReputationBatch, ServerReputation

router = APIRouter(prefix=API_PREFIX, tags=["reputation"], responses=COMMON_ERRORS)
MAX_BATCH = 1000


@router.get(
    "/servers/{key}/reputation", summary="A server's trust, posterior, credible interval, state, spot-check rate"
)
def server_reputation(engine: LedgerEngine, key: KeyPath) -> ServerReputation:
    with engine.connect() as connection:
        return ServerReputation.model_validate(server_view(connection, key, now_ms()))


@router.get(
    "/reputation",
    summary="Many reputations at once: every checked server of a model, and/or the servers named; with the "
    "prior of newcomers",
    description="A model's page alone (no `server=`) may be up to a second old unless the ledger changed "
    "since: `as_of_ms` says when it was computed.",
    response_model=ReputationBatch,
    responses={422: {"model": ErrorBody}},
)
def reputations(
    service: Service,
    engine: LedgerEngine,
    model: Annotated[str | None, Query(min_length=1, max_length=200, description="Every checked server of it")] = None,
    server: Annotated[
        list[str] | None, Query(description=f"Hex keys (repeat the parameter, at most {MAX_BATCH})")
    ] = None,
) -> Response:
    keys = server or []
    if model is None and not keys:
        raise ApiError(422, "invalid_request", "name a model (model=...) or servers (server=KEY, repeatable)")
    if len(keys) > MAX_BATCH or not all(_is_key(k) for k in keys):
        raise ApiError(422, "invalid_request", f"server: at most {MAX_BATCH} hex keys of 64 lowercase hex digits")
    cache: ModelPageCache = service.reputation_pages
    now = now_ms()
    with engine.connect() as connection:
        cacheable = model if not keys else None  # a model's page alone; named servers are read afresh
        version = model_version(connection, cacheable) if cacheable is not None else None
        if cacheable is not None and (cached := cache.get(cacheable, version, now)) is not None:
            return Response(cached, media_type="application/json")
        servers = model_views(connection, model, now) if model is not None else {}
        for key in keys:
            view = server_view(connection, key, now)
            servers[key] = {k: v for k, v in view.items() if k not in ("server_key", "checked", "model_id")}
        newcomer = newcomer_view(connection, now)
        final = latest_final_ref(connection)
    checkpoint = {"number": final[0], "digest": final[1].hex()} if final is not None else None
    batch = ReputationBatch.model_validate(
        {"model_id": model, "as_of_ms": now, "newcomer": newcomer, "servers": servers, "checkpoint": checkpoint}
    )
    body = batch.model_dump_json().encode()
    if cacheable is not None:
        cache.put(cacheable, version, now, body)
    return Response(body, media_type="application/json")


def _is_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
