"""Administrator authentication: one secret token, never a default, always compared in constant time.

The REST API takes it as ``Authorization: Bearer TOKEN``. The dashboard trades it once for a session
cookie, ``EXPIRES.MAC`` with MAC = HMAC-SHA256(token, "session/" + EXPIRES), so any API process that
knows the token can check a session without shared state, and changing the token ends every session.
Forms carry a CSRF token derived from the session the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError

MIN_TOKEN_LENGTH = 16
SESSION_SECONDS = 8 * 3600
SESSION_COOKIE = "swarmtrust_admin"


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
        return hmac.compare_digest(self.token, offered.encode())

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.token, f"{purpose}/{value}".encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        return f"{expires}.{self._mac('session', str(expires))}"

    def session_valid(self, cookie: str | None, now: float | None = None) -> bool:
        if not cookie or "." not in cookie:
            return False
        expires, mac = cookie.split(".", 1)
        if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(mac, self._mac("session", expires))

    def csrf_token(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_valid(self, cookie: str, offered: str) -> bool:
        return hmac.compare_digest(self.csrf_token(cookie), offered)


def admin_credentials(request: Request) -> AdminCredentials:
    admin: AdminCredentials | None = request.app.state.admin
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
