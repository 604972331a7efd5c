"""Session lengths: the recent distribution of prompt tokens and steps per session, by model (for probes)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from swarmtrust.api.deps import LedgerEngine
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody
from swarmtrust.ledger.session_lengths import DEFAULT_WINDOW, MAX_SHARES, MAX_WINDOW, session_lengths
from swarmtrust.protocol.rest import API_PREFIX, Schema

router = APIRouter(prefix=API_PREFIX, tags=["receipts"], responses=COMMON_ERRORS)


class LengthShareOut(Schema):
    prompt_tokens: int = Field(description="Tokens of the session's first step (its prompt)")
    steps: int = Field(description="Steps receipted in the session (one per new token)")
    weight: float = Field(description="Share of sessions with these lengths; every server weighs the same")


class SessionLengthsOut(Schema):
    model_id: str
    receipts_read: int = Field(description="Newest receipts of the model the summary was computed from")
    sessions: int = Field(description="Sessions whose first step lies among them")
    servers: int = Field(description="Servers those sessions ran on")
    shares: list[LengthShareOut] = Field(description=f"Heaviest first, at most {MAX_SHARES}; they sum to 1")


@router.get(
    "/session-lengths",
    summary="The recent distribution of session lengths of a model: (prompt tokens, steps) and their shares",
    description="Computed from the newest `window` receipts; every server's sessions together weigh the same, "
    "so no one key can skew it. Verifiers draw their probes' lengths from it.",
    responses={422: {"model": ErrorBody}},
)
def lengths(
    engine: LedgerEngine,
    model: Annotated[str, Query(min_length=1, max_length=200, description="Model id, e.g. tiny")],
    window: Annotated[int, Query(ge=1, le=MAX_WINDOW, description="Newest receipts to read")] = DEFAULT_WINDOW,
) -> SessionLengthsOut:
    with engine.connect() as connection:
        summary = session_lengths(connection, model, window)
    return SessionLengthsOut.model_validate(asdict(summary) | {"shares": [asdict(s) for s in summary.shares]})
