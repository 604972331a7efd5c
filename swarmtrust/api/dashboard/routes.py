"""Dashboard pages and form actions, behind the administrator's session cookie (see ``api.admin_auth``).

Logging in is throttled per client address (``api.login_throttle``) and guarded against cross-site posts
(an Origin check and a CSRF token bound to a cookie set with the form); logging out ends the session in
every process (``api.admin_sessions``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from swarmtrust.api.admin_actions import act
from swarmtrust.api.admin_auth import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, AdminCredentials
from swarmtrust.api.admin_sessions import end_session, session_ended
from swarmtrust.api.dashboard import views
from swarmtrust.api.dashboard.text import neutralise_bidi
from swarmtrust.api.deps import KeyPath, now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.api.login_throttle import LoginThrottle
from swarmtrust.api.service import Service, ledger_service
from swarmtrust.ledger.consensus import conviction_quorum
from swarmtrust.ledger.directory import run_audit
from swarmtrust.ledger.errors import RequestRefusedError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html: names are untrusted text
templates.env.finalize = neutralise_bidi  # before any template compiles: every printed value passes through it
router = APIRouter(prefix="/dashboard", include_in_schema=False)
SECURITY_HEADERS = {
    # Nothing inline runs or styles, even if some text slipped past escaping.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


def _time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["time"] = _time
templates.env.filters["short"] = lambda key: f"{key[:12]}…" if key else "—"
templates.env.filters["credits"] = lambda micro: f"{micro / 1_000_000:,.6f}".rstrip("0").rstrip(".")


def _admin_enabled(request: Request) -> AdminCredentials:
    admin: AdminCredentials | None = ledger_service(request).admin
    if admin is None:
        raise ApiError(503, "admin_disabled", "the dashboard is off: start the service with SWARMTRUST_ADMIN_TOKEN set")
    return admin


def logged_in(request: Request, service: Service) -> AdminCredentials:
    """The administrator of a valid session; anyone else is sent to the login page."""
    admin = _admin_enabled(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not admin.session_valid(cookie) or session_ended(service.engine, cookie or ""):
        raise HTTPException(303, "log in first", headers={"Location": "/dashboard/login"})
    return admin


LoggedIn = Annotated[AdminCredentials, Depends(logged_in)]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    service = ledger_service(request)
    admin: AdminCredentials | None = service.admin
    cookie = request.cookies.get(SESSION_COOKIE)
    csrf = admin.csrf_token(cookie) if admin is not None and cookie else ""
    response = templates.TemplateResponse(
        request,
        template,
        {"csrf": csrf, "refresh": service.dashboard_refresh_seconds, "now": now_ms(), **context},
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _check_csrf(request: Request, admin: AdminCredentials, offered: str) -> None:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not admin.csrf_valid(cookie, offered):
        raise ApiError(403, "bad_csrf_token", "this form is stale or was not sent by the dashboard; reload the page")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request, _admin_enabled(request))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    service: Service,
    token: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    admin = _admin_enabled(request)
    address = request.client.host if request.client else "unknown"
    throttle: LoginThrottle = service.login_throttle
    wait = throttle.retry_after(address)
    if wait:
        message = f"Too many wrong tokens from your address: try again in {wait} s."
        refused = _login_form(request, admin, status=429, error=message)
        refused.headers["Retry-After"] = str(wait)
        return refused
    if not _same_origin(request) or not admin.login_csrf_valid(request.cookies.get(LOGIN_COOKIE), csrf):
        message = "This login form was not sent by this dashboard, or it is stale: log in from a fresh page."
        return _login_form(request, admin, status=403, error=message, renew=True)
    if not token or not admin.token_matches(token):
        throttle.failed(address)
        return _login_form(request, admin, status=401, error="That is not the administrator token.")
    throttle.succeeded(address)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        admin.new_session(),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/login")
    return response


def _login_form(
    request: Request, admin: AdminCredentials, status: int = 200, error: str | None = None, renew: bool = False
) -> HTMLResponse:
    """The login page, with a CSRF token bound to the login cookie (kept if the browser has one, else new)."""
    secret = request.cookies.get(LOGIN_COOKIE, "")
    if renew or not (secret.isascii() and secret.isalnum() and len(secret) == 32):
        secret = secrets.token_hex(16)
    response = render(request, "login.html", status=status, error=error, login_csrf=admin.login_csrf_token(secret))
    response.set_cookie(
        LOGIN_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard/login",
    )
    return response


def _same_origin(request: Request) -> bool:
    """False for a form another site made the browser post (browsers name the page's origin); requests without
    an Origin header (older browsers, scripts) rest on the CSRF token alone."""
    origin = request.headers.get("origin")
    return origin is None or origin == str(request.base_url).rstrip("/")


@router.post("/logout")
def logout(
    request: Request, service: Service, admin: LoggedIn, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    _check_csrf(request, admin, csrf)
    end_session(service.engine, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


@router.get("", response_class=HTMLResponse)
def overview(request: Request, service: Service, admin: LoggedIn) -> HTMLResponse:
    engine = service.engine
    with engine.connect() as connection:
        page = views.overview(connection, engine, now_ms())
    return render(request, "overview.html", **page)


@router.get("/servers", response_class=HTMLResponse)
def servers(request: Request, service: Service, admin: LoggedIn) -> HTMLResponse:
    with service.engine.connect() as connection:
        rows = views.all_servers(connection, now_ms())
    return render(request, "servers.html", servers=rows, truncated=len(rows) >= views.MAX_ROWS)


@router.get("/servers/{key}", response_class=HTMLResponse)
def server(request: Request, service: Service, admin: LoggedIn, key: KeyPath, done: str | None = None) -> HTMLResponse:
    with service.engine.connect() as connection:
        page = views.server_page(connection, key, now_ms())
        names = views.names(connection)
    if page is None:
        return render(request, "message.html", status=404, title="Unknown server", message=f"No server {key}.")
    return render(request, "server.html", names=names, done=done, **page)


@router.post("/servers/{key}/action")
async def server_action(
    request: Request,
    service: Service,
    admin: LoggedIn,
    key: KeyPath,
    action: Annotated[str, Form(pattern="^(quarantine|release)$")],
    reason: Annotated[str, Form(max_length=400)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _check_csrf(request, admin, csrf)
    engine, key_signing = service.engine, service.ledger_key
    try:
        await run_in_threadpool(
            act, engine, key_signing, action=action, server_key=key, reason=reason, admin=admin.name
        )
    except RequestRefusedError as exc:  # e.g. no reason given: show the page again, saying what is missing
        with engine.connect() as connection:
            page, names = views.server_page(connection, key, now_ms()), views.names(connection)
        return render(request, "server.html", status=400, names=names, error=str(exc), **(page or {}))
    return RedirectResponse(f"/dashboard/servers/{key}?done={action}", status_code=303)


@router.get("/disputes", response_class=HTMLResponse)
def disputes(request: Request, service: Service, admin: LoggedIn) -> HTMLResponse:
    needed = conviction_quorum(service.spot_checks.policy.dispute_verifiers)
    with service.engine.connect() as connection:
        rows, names = views.disputes(connection, needed), views.names(connection)
    return render(request, "disputes.html", disputes=rows, names=names)


@router.get("/market", response_class=HTMLResponse)
def market(request: Request, service: Service, admin: LoggedIn) -> HTMLResponse:
    with service.engine.connect() as connection:
        page, names = views.market(connection), views.names(connection)
    return render(request, "market.html", names=names, **page)


@router.get("/verifiers", response_class=HTMLResponse)
def verifiers(request: Request, service: Service, admin: LoggedIn) -> HTMLResponse:
    with service.engine.connect() as connection:
        rows = views.verifiers(connection)
    return render(request, "verifiers.html", verifiers=rows)


@router.post("/audit")
async def audit(
    request: Request, service: Service, admin: LoggedIn, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    _check_csrf(request, admin, csrf)
    await run_in_threadpool(run_audit, service.engine)
    return RedirectResponse("/dashboard", status_code=303)
