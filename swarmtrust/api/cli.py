"""``swarmtrust api serve``: the ledger service over HTTP."""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from swarmtrust.api.admin_auth import AdminCredentials

from swarmtrust.api.settings import ApiSettings
from swarmtrust.node.cli_options import InitialPeers, split_peers
from swarmtrust.node.network import NetworkOptions

app = typer.Typer(
    help="The ledger service: REST API and the admin dashboard.", no_args_is_help=True, rich_markup_mode=None
)


@app.command()
def serve(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Ledger database URL (default: SWARMTRUST_DB_URL, then SQLite in the data dir)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port; the URL is printed).")] = 8080,
    key: Annotated[
        Path | None, typer.Option("--key", help="The ledger's signing key (created, 0600, if missing).")
    ] = None,
    assignment_ttl: Annotated[float | None, typer.Option(min=0.1, help="Seconds a verifier has to answer.")] = None,
    dispute_verifiers: Annotated[
        int | None,
        typer.Option(help="Verifiers added to a disputed challenge (at least 2; a FAIL needs 1 + this many verdicts)."),
    ] = None,
    audit_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Chance a reliable pass is re-checked.")
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Create or upgrade the schema first.")] = True,
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    snapshot_interval: Annotated[
        float | None, typer.Option(min=1.0, help="Seconds between reputation snapshots in the DHT.")
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the administrator token (default: SWARMTRUST_ADMIN_TOKEN; unset: no admin)."),
    ] = None,
    max_request_bytes: Annotated[
        int | None, typer.Option(min=1024, help="Largest request body accepted (default: evidence limit + 64 KiB).")
    ] = None,
    cors_origin: Annotated[
        list[str], typer.Option(help="A browser origin allowed to read the API (repeatable; default: none).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    challenge_window: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds a payment stays in escrow before it can be released.")
    ] = None,
    settle_interval: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds between releases of due escrow (0: only on request).")
    ] = None,
    checkpoint_interval: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Seconds between checkpoint proposals, which also come as each hour's epoch closes (0: only "
            "`swarmtrust ledger checkpoint`).",
        ),
    ] = None,
) -> None:
    """Serve the REST API; prints one line with the URL and the ledger's public key when listening."""
    import uvicorn

    from swarmtrust.api.app import create_app
    from swarmtrust.api.checkpointing import checkpoint_periodically
    from swarmtrust.api.service import BackgroundTask
    from swarmtrust.ledger.checkpoints import Checkpointer
    from swarmtrust.ledger.db import create_ledger_engine
    from swarmtrust.ledger.migrate import upgrade
    from swarmtrust.ledger.settings import LedgerSettings
    from swarmtrust.ledger.spotchecks import SpotCheckPolicy
    from swarmtrust.protocol.keys import generate_key_file, load_signing_key

    settings = ApiSettings.from_flags(
        db_url=db,
        ledger_key=key,
        assignment_ttl=assignment_ttl,
        dispute_verifiers=dispute_verifiers,
        audit_rate=audit_rate,
        max_request_bytes=max_request_bytes,
        cors_origins=cors_origin,
        challenge_window=challenge_window,
        settle_interval=settle_interval,
        snapshot_interval=snapshot_interval,
        checkpoint_interval=checkpoint_interval,
    )
    try:  # the rules of consensus are logged and audited: refuse ones out of range before serving anything
        policy = SpotCheckPolicy(
            assignment_ttl_ms=settings.assignment_ttl_ms,
            dispute_verifiers=settings.dispute_verifiers,
            audit_rate=settings.audit_rate,
        )
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (--dispute-verifiers / SWARMTRUST_DISPUTE_VERIFIERS, --audit-rate)") from exc
    admin = _admin(admin_token_file, settings)
    url = LedgerSettings().resolved_db_url(settings.db_url or None)
    ledger_key = (
        load_signing_key(settings.ledger_key)
        if settings.ledger_key.exists()
        else generate_key_file(settings.ledger_key)
    )
    engine = create_ledger_engine(url)
    if migrate:
        upgrade(engine)
    peers = split_peers(initial_peers)
    dht = None
    background: list[BackgroundTask] = []  # run by the app's lifespan
    if peers:  # publish signed reputation snapshots in the DHT (forks: before any thread starts)
        from swarmtrust.api.snapshots import SnapshotPublisher
        from swarmtrust.node.dht import start_dht

        dht = start_dht(peers, NetworkOptions(host=host), client_mode=True)
        publisher = SnapshotPublisher(engine, ledger_key, dht, interval=settings.snapshot_interval)
        background.append(BackgroundTask("snapshots", publisher.run))
    if settings.settle_interval > 0:
        from swarmtrust.api.settlement import settle_periodically

        settle = functools.partial(
            settle_periodically, engine, ledger_key, settings.challenge_window_ms, settings.settle_interval
        )
        background.append(BackgroundTask("settlement", settle))
    checkpointer = Checkpointer(engine)
    if settings.checkpoint_interval > 0:
        propose = functools.partial(checkpoint_periodically, checkpointer, ledger_key, settings.checkpoint_interval)
        background.append(BackgroundTask("checkpoints", propose))
    application = create_app(
        engine,
        ledger_key,
        policy,
        max_request_bytes=settings.max_request_bytes,
        admin=admin,
        cors_origins=settings.cors_origins,
        dashboard_refresh_seconds=settings.dashboard_refresh,
        challenge_window_ms=settings.challenge_window_ms,
        background=background,
        checkpointer=checkpointer,
    )
    listener = socket.create_server((host, port))
    bound = listener.getsockname()[1]
    typer.echo(f"swarmtrust api listening on http://{host}:{bound} ledger_key={bytes(ledger_key.verify_key).hex()}")
    if admin is None:
        typer.echo("administration and the dashboard are off: set SWARMTRUST_ADMIN_TOKEN to turn them on", err=True)
    config = uvicorn.Config(application, log_level="warning", access_log=False)
    _settle_heap()
    try:
        # The bound socket itself, not its fd: uvicorn takes a bare fd for a Unix socket, and the event loop
        # then leaves Nagle's algorithm on, which costs every small answer on a kept-alive connection ~40 ms.
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        if dht is not None:
            dht.shutdown()


def _settle_heap() -> None:
    """Pay start-up costs before the first request, and keep them out of the garbage collector's way.

    Reputation quantiles import scipy on first use (a fraction of a second); and a full collection walks every
    object alive, most of them modules, schemas and routes loaded at start, which stalled one request in
    about a hundred by up to a tenth of a second (bench ``api-load``). Frozen, they are never walked again.
    """
    import gc

    from swarmtrust.protocol.beta import Beta

    Beta(1.0, 1.0).lower_bound()
    gc.collect()
    gc.freeze()


def _admin(token_file: Path | None, settings: ApiSettings) -> AdminCredentials | None:
    """The administrator's credentials, or None when no token is configured; a weak token stops the start."""
    from swarmtrust.api.admin_auth import AdminCredentials, AdminTokenError

    if token_file is not None:
        try:
            token: str | None = token_file.read_text()
        except OSError as exc:
            message = f"cannot read the admin token file: {exc}"
            raise typer.BadParameter(message, param_hint="--admin-token-file") from None
    else:
        token = settings.admin_token.get_secret_value() if settings.admin_token is not None else None
    if token is None:
        return None
    try:
        return AdminCredentials.from_token(token, settings.admin_name)
    except AdminTokenError as exc:
        raise typer.BadParameter(str(exc), param_hint="SWARMTRUST_ADMIN_TOKEN / --admin-token-file") from None
