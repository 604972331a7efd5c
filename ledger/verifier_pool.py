"""Who may verify a challenge now (read inside the spot-check desk's write transaction): which verifiers are
present, which are eligible, how reliable each is, and the reliability-weighted draw among them.

No round is first come, first served: every assignment goes to a verifier drawn here, so asking for work
faster than the others wins nothing.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.consensus import choose_weighted, reliability
from ledger.models import AssignmentRow, VerifierPresence, VerifierRow


def mark_present(connection: Connection, vkey: str, now: int) -> None:
    """The verifier asked for work at ``now``: it may be drawn for a while (operational state, no event)."""
    updated = connection.execute(
        update(VerifierPresence).where(VerifierPresence.public_key == vkey).values(last_poll_ms=now)
    ).rowcount
    if not updated:
        connection.execute(insert(VerifierPresence).values(public_key=vkey, last_poll_ms=now))


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
    """Up to ``count`` eligible verifiers among those that asked for work within ``presence_window_ms``, drawn
    without replacement with probability proportional to reliability."""
    present = connection.execute(
        select(VerifierPresence.public_key).where(VerifierPresence.last_poll_ms >= now - presence_window_ms)
    ).scalars()
    candidates = [
        (key, verifier_reliability(connection, key)) for key in present if eligible(connection, challenge, key)
    ]
    # Unpredictable, so that neither a submitter choosing challenge ids nor anyone reading the clock can steer
    # the draw towards a friend.
    seed = bytes.fromhex(challenge["challenge_id"]) + challenge["phase"].encode() + os.urandom(16)
    return choose_weighted(candidates, count, seed)
