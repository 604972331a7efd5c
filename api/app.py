"""The ledger service application: ``create_app`` wires the engine, the ledger key and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nacl.signing
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, select

from api.errors import error_body, install_error_handlers
from api.routes import reputation, spotchecks
from ledger.migrate import require_current_schema
from ledger.models import ChainHead
from ledger.spotchecks import SpotCheckPolicy, SpotChecks


def create_app(
    engine: Engine, ledger_key: nacl.signing.SigningKey, policy: SpotCheckPolicy, *, max_request_bytes: int
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        require_current_schema(engine)
        yield
        engine.dispose()

    app = FastAPI(
        title="swarmtrust ledger service",
        version="1",
        summary="Receipts, challenges, verdicts and reputation of a swarm of LLM block servers.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.ledger_key = bytes(ledger_key.verify_key)
    app.state.spot_checks = SpotChecks(engine, ledger_key, policy)
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return JSONResponse(error_body("too_large", f"bodies are limited to {max_request_bytes} bytes"), 413)
        return await call_next(request)

    @app.get("/health", tags=["service"], summary="Liveness, the ledger key and the chain head")
    def health() -> dict[str, object]:
        with engine.connect() as connection:
            head = connection.execute(select(ChainHead.seq, ChainHead.hash)).one()
        return {"status": "ok", "ledger_key": app.state.ledger_key.hex(), "head_seq": head.seq, "head_hash": head.hash}

    app.include_router(spotchecks.router)
    app.include_router(reputation.router)
    return app
