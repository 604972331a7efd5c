"""The ledger service application: ``create_app`` builds the service object (``api.service``) and wires the
routers, the dashboard and the lifespan that runs the service's background work."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import nacl.signing
from fastapi import Depends, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from swarmtrust.api.admin_auth import AdminCredentials
from swarmtrust.api.dashboard.routes import router as dashboard_router
from swarmtrust.api.dashboard.routes import static_files
from swarmtrust.api.deps import plain_query
from swarmtrust.api.errors import error_body, install_error_handlers
from swarmtrust.api.metrics import ServiceMetrics
from swarmtrust.api.routes import admin as admin_routes
from swarmtrust.api.routes import (
    capacity,
    checkpoints,
    epochs,
    events,
    market,
    misbehaviour,
    models,
    receipts,
    reputation,
    servers,
    spotchecks,
)
from swarmtrust.api.routes import session_lengths as length_routes
from swarmtrust.api.schemas import Health
from swarmtrust.api.service import BackgroundTask, LedgerService
from swarmtrust.ledger.checkpoints import Checkpointer
from swarmtrust.ledger.market import DEFAULT_WINDOW_MS
from swarmtrust.ledger.migrate import require_current_schema
from swarmtrust.ledger.misbehaviour import Convictions
from swarmtrust.ledger.models import ChainHead
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks


def create_app(
    engine: Engine,
    ledger_key: nacl.signing.SigningKey,
    policy: SpotCheckPolicy,
    *,
    max_request_bytes: int,
    admin: AdminCredentials | None = None,
    cors_origins: Sequence[str] = (),
    dashboard_refresh_seconds: float = 10.0,
    challenge_window_ms: int = DEFAULT_WINDOW_MS,
    background: Sequence[BackgroundTask] = (),
    checkpointer: Checkpointer | None = None,
) -> FastAPI:
    """The ledger service over ``engine``; ``background`` tasks run from startup (once the schema is found
    current) until shutdown."""
    service = LedgerService(
        engine=engine,
        ledger_key=ledger_key,
        spot_checks=SpotChecks(engine, ledger_key, policy),
        convictions=Convictions(engine, ledger_key),
        metrics=ServiceMetrics(engine),
        checkpointer=checkpointer or Checkpointer(engine),
        admin=admin,
        dashboard_refresh_seconds=dashboard_refresh_seconds,
        challenge_window_ms=challenge_window_ms,
        background=background,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        require_current_schema(engine)
        service.start_background()
        try:
            yield
        finally:
            service.stop_background()
            engine.dispose()

    app = FastAPI(
        title="swarmtrust ledger service",
        version="1",
        summary="Receipts, challenges, verdicts, reputation and servers of a swarm of LLM block servers.",
        description="Writes from nodes and verifiers are signed with their Ed25519 keys (the four "
        "X-Swarmtrust-* headers); administrators' writes need the bearer token; reads are open. "
        'Every error has the body {"error": {"code", "message"}}.',
        lifespan=lifespan,
        dependencies=[Depends(plain_query)],
    )
    app.state.service = service  # handlers take it as the ``Service`` dependency (api.service)
    install_error_handlers(app)

    app.add_middleware(Measure, metrics=service.metrics)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)
    if cors_origins:  # off unless origins are named: the API needs no browser on another origin
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"], allow_headers=["*"])

    @app.get("/health", tags=["service"], summary="Liveness, the ledger key and the chain head")
    def health() -> Health:
        with engine.connect() as connection:
            head = connection.execute(select(ChainHead.seq, ChainHead.hash)).one()
        return Health(status="ok", ledger_key=service.ledger_public_key.hex(), head_seq=head.seq, head_hash=head.hash)

    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics: request rates and latencies, receipts and ingest lag, verdicts, open disputes",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def prometheus() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for module in (
        servers,
        reputation,
        receipts,
        epochs,
        spotchecks,
        misbehaviour,
        events,
        market,
        models,
        capacity,
        checkpoints,
        admin_routes,
    ):
        app.include_router(module.router)
    app.include_router(length_routes.router)
    app.include_router(dashboard_router)
    app.mount("/dashboard/static", static_files(), name="dashboard-static")
    return app


class Measure:
    """Counts and times every request by its route template (never the raw path, which would let anyone mint
    new series). Plain ASGI: it watches the response start go by and passes the body through untouched."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the application fails before it starts a response

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413, whether announced by Content-Length or streamed in chunks.

    A streamed body is read up to the limit before the application sees it (every route reads whole bodies
    anyway), so a refusal always comes before anything is decided, let alone written.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body("too_large", f"bodies are limited to {self.max_bytes} bytes")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
