"""Who may verify a challenge now (read inside the spot-check desk's write transaction): which verifiers are
present, which serve the challenge's model, which are eligible, how reliable each is, and the
reliability-weighted draw among them.

No round is first come, first served: every assignment goes to a verifier drawn here, so asking for work
faster than the others wins nothing. An apprentice's pass is audited by a verifier past its apprenticeship
whenever one is present and eligible, so a ring of fresh identities cannot audit each other out of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, insert, select, update

from swarmtrust.ledger.consensus import choose_weighted, reliability, trusted_reliability
from swarmtrust.ledger.models import AssignmentRow, VerdictRow, VerifierPresence, VerifierRow


def mark_present(connection: Connection, vkey: str, now: int, models: Collection[str] | None = None) -> None:
    """The verifier asked for work on ``models`` (None: any model) at ``now``: it may be drawn for a while for
    challenges of those models (operational state, no event)."""
    served = json.dumps(sorted(set(models))) if models is not None else None
    updated = connection.execute(
        update(VerifierPresence).where(VerifierPresence.public_key == vkey).values(last_poll_ms=now, models=served)
    ).rowcount
    if not updated:
        connection.execute(insert(VerifierPresence).values(public_key=vkey, last_poll_ms=now, models=served))


def serves(models: str | None, model_id: str) -> bool:
    """Whether a verifier whose presence row holds ``models`` checks ``model_id`` (None: it asked for any)."""
    return models is None or model_id in json.loads(models)


def eligible(connection: Connection, challenge: dict[str, Any], vkey: str) -> bool:
    """Never the accused, never the submitter, never twice on one challenge."""
    if vkey in (challenge["server_key"], challenge["submitter_key"]):
        return False
    involved = connection.execute(
        select(AssignmentRow.assignment_id).where(
            AssignmentRow.challenge_id == challenge["challenge_id"], AssignmentRow.verifier_key == vkey
        )
    ).first()
    return involved is None


def verifier_reliability(connection: Connection, vkey: str) -> float:
    row = connection.execute(
        select(VerifierRow.agreements, VerifierRow.disagreements).where(VerifierRow.public_key == vkey)
    ).one_or_none()
    return reliability(row.agreements, row.disagreements) if row else reliability(0, 0)


def draw(connection: Connection, challenge: dict[str, Any], count: int, now: int, presence_window_ms: int) -> list[str]:
    """Up to ``count`` eligible verifiers serving the challenge's model among those that asked for work within
    ``presence_window_ms``, drawn without replacement with probability proportional to reliability. An audit
    of an apprentice's pass draws only verifiers past their apprenticeship while any is eligible."""
    present = connection.execute(
        select(VerifierPresence.public_key, VerifierPresence.models).where(
            VerifierPresence.last_poll_ms >= now - presence_window_ms
        )
    ).all()
    candidates = [
        (row.public_key, verifier_reliability(connection, row.public_key))
        for row in present
        if serves(row.models, challenge["model_id"]) and eligible(connection, challenge, row.public_key)
    ]
    if challenge["phase"] == "audit" and _audits_an_apprentice(connection, challenge):
        trusted = [(key, weight) for key, weight in candidates if weight >= trusted_reliability()]
        candidates = trusted or candidates  # anyone, only when no trusted verifier can take it
    # Unpredictable, so that neither a submitter choosing challenge ids nor anyone reading the clock can steer
    # the draw towards a friend.
    seed = bytes.fromhex(challenge["challenge_id"]) + challenge["phase"].encode() + os.urandom(16)
    return choose_weighted(candidates, count, seed)


def _audits_an_apprentice(connection: Connection, challenge: dict[str, Any]) -> bool:
    """Whether the pass under audit is an apprentice's (its verifier not yet trusted)."""
    first = connection.execute(
        select(VerdictRow.verifier_key).where(
            VerdictRow.challenge_id == challenge["challenge_id"], VerdictRow.round == "initial"
        )
    ).first()
    return first is None or verifier_reliability(connection, first.verifier_key) < trusted_reliability()
