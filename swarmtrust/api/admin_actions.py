"""What an administrator can do, for the REST API and the dashboard alike."""

from __future__ import annotations

import nacl.signing
from sqlalchemy import Engine

from swarmtrust.api.deps import now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.ledger.directory import act_on_server
from swarmtrust.ledger.server_queries import get_server


def act(
    engine: Engine, ledger_key: nacl.signing.SigningKey, *, action: str, server_key: str, reason: str, admin: str
) -> int:
    """Quarantine or release a server the ledger knows; the seq of the signed event recording it."""
    with engine.connect() as connection:
        server = get_server(connection, server_key, now_ms())
    if server is None:
        raise ApiError(404, "not_found", f"the ledger knows no server {server_key}")
    return act_on_server(
        engine,
        ledger_key,
        action=action,
        server_key=bytes.fromhex(server_key),
        model_id=server["model_id"] or "",
        reason=reason,
        admin=admin,
    )
