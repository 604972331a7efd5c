"""Ended dashboard sessions, shared by every API process over one ledger database.

A session cookie proves itself (``api.admin_auth``), so ending one before it expires needs a record that
every process consults: logging out writes the session's digest, domain-separated, into the table that
remembers signed requests until their expiry (``seen_requests``), with the session's own expiry. The row
is pruned with the others once the cookie could not be used anyway, and no request digest can collide
with it (a request's is the BLAKE2b of a signature, this one of a prefixed session id).
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from swarmtrust.api.admin_auth import session_expiry
from swarmtrust.ledger.db import write_transaction
from swarmtrust.ledger.models import SeenRequest
from swarmtrust.protocol.digests import blake2b_256

_DOMAIN = b"swarmtrust/ended-session/v1"


def _digest(session_id: str) -> str:
    return blake2b_256(_DOMAIN + session_id.encode("utf-8", "surrogatepass")).hex()


def end_session(engine: Engine, cookie: str) -> None:
    """Record that ``cookie``'s session has ended (a checked session cookie; ending it twice is harmless)."""
    parsed = session_expiry(cookie)
    if parsed is None:
        return
    expires, session_id = parsed
    try:
        with write_transaction(engine) as connection:
            connection.execute(
                insert(SeenRequest).values(signature_digest=_digest(session_id), expires_ms=expires * 1000)
            )
    except IntegrityError:  # ended already (a second logout from another tab)
        pass


def session_ended(engine: Engine, cookie: str) -> bool:
    """Whether ``cookie``'s session was ended by logging out (a cookie that is not a session counts as ended)."""
    parsed = session_expiry(cookie)
    if parsed is None:
        return True
    with engine.connect() as connection:
        found = connection.execute(
            select(SeenRequest.signature_digest).where(SeenRequest.signature_digest == _digest(parsed[1]))
        ).first()
    return found is not None
