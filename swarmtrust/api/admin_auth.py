"""Administrator authentication: one secret token, never a default, always compared in constant time.

The REST API takes it as ``Authorization: Bearer TOKEN``. The dashboard trades it once for a session
cookie, ``EXPIRES.ID.MAC`` with a random ID and MAC = HMAC-SHA256(token, "session/EXPIRES.ID"), so any
API process that knows the token can check a session, and changing the token ends every session. Logging
out ends one session in every process (``api.admin_sessions`` records it in the ledger database). Forms
carry a CSRF token derived from the session the same way; the login form, which comes before any
session, one derived from a random cookie of its own (``login_csrf_token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from swarmtrust.api.errors import ApiError
from swarmtrust.api.service import ledger_service

MIN_TOKEN_LENGTH = 16
SESSION_SECONDS = 8 * 3600
SESSION_COOKIE = "swarmtrust_admin"
LOGIN_COOKIE = "swarmtrust_login"  # the login form's own CSRF secret, set with the form


class AdminTokenError(ValueError):
    """An administrator token that must not be accepted (empty, or too short to resist guessing)."""


@dataclass(frozen=True)
class AdminCredentials:
    token: bytes
    name: str  # recorded with every action ("who")

    @classmethod
    def from_token(cls, token: str, name: str) -> AdminCredentials:
        if len(token.strip()) < MIN_TOKEN_LENGTH:
            raise AdminTokenError(
                f"the admin token must hold at least {MIN_TOKEN_LENGTH} characters; "
                "make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return cls(token.strip().encode(), name)

    def token_matches(self, offered: str) -> bool:
        return hmac.compare_digest(self.token, offered.encode("utf-8", "surrogatepass"))

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.token, f"{purpose}/{value}".encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        signed = f"{expires}.{secrets.token_hex(16)}"
        return f"{signed}.{self._mac('session', signed)}"

    def session_valid(self, cookie: str | None, now: float | None = None) -> bool:
        """The cookie is a session this token made and it has not expired (whether it was ended by logging
        out is ``api.admin_sessions``' to say)."""
        parsed = _session_parts(cookie)
        if parsed is None or parsed[0] < (now if now is not None else time.time()):
            return False
        expires, session_id, mac = parsed
        return _same(mac, self._mac("session", f"{expires}.{session_id}"))

    def login_csrf_token(self, login_cookie: str) -> str:
        """What the login form must carry: bound to the random cookie set with the form, which another site
        can neither read nor send (SameSite=Strict), so it cannot post the form in a visitor's browser."""
        return self._mac("login", login_cookie)

    def login_csrf_valid(self, login_cookie: str | None, offered: str) -> bool:
        return bool(login_cookie) and _same(self.login_csrf_token(login_cookie or ""), offered)

    def csrf_token(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_valid(self, cookie: str, offered: str) -> bool:
        return _same(self.csrf_token(cookie), offered)


def session_expiry(cookie: str | None) -> tuple[int, str] | None:
    """A session cookie's expiry (Unix seconds) and random id, unchecked; None if it is not shaped like one."""
    parsed = _session_parts(cookie)
    return None if parsed is None else (parsed[0], parsed[1])


def _same(expected: str, offered: str) -> bool:
    """Constant-time equality of a MAC and what a client sent, whatever characters it sent (``compare_digest``
    refuses non-ASCII text with a TypeError: bytes it takes all)."""
    return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "surrogatepass"))


def _session_parts(cookie: str | None) -> tuple[int, str, str] | None:
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit() or len(parts[0]) > 12:
        return None
    return int(parts[0]), parts[1], parts[2]


def admin_credentials(request: Request) -> AdminCredentials:
    admin: AdminCredentials | None = ledger_service(request).admin
    if admin is None:
        raise ApiError(
            503, "admin_disabled", "administration is off: start the service with SWARMTRUST_ADMIN_TOKEN set"
        )
    return admin


_bearer = HTTPBearer(auto_error=False, description="The administrator token (SWARMTRUST_ADMIN_TOKEN)")


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AdminCredentials:
    admin = admin_credentials(request)
    if credentials is None:
        raise ApiError(401, "unauthorized", "send the administrator token as 'Authorization: Bearer TOKEN'")
    if not admin.token_matches(credentials.credentials):
        raise ApiError(401, "unauthorized", "the administrator token is wrong")
    return admin


Admin = Annotated[AdminCredentials, Depends(require_admin)]
