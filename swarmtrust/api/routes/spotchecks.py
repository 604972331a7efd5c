"""Challenges, assignments, evidence, verdicts and disputes: the REST face of ``ledger.spotchecks``."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.auth import SignedBy
from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody
from swarmtrust.api.deps import HEX_ID, HEX_KEY, KeyQuery, LedgerEngine
from swarmtrust.api.errors import ApiError
from swarmtrust.api.pagination import Cursor, Limit, decode_cursor, newest_first, page
from swarmtrust.api.schemas import (
    COMMON_ERRORS,
    ChallengeAccepted,
    ChallengeDetail,
    ChallengeOut,
    ClaimedAssignment,
    DisputeOut,
    ErrorBody,
    Page,
    VerdictAccepted,
    VerdictOut,
    VerifierOut,
)
from swarmtrust.api.service import Service
from swarmtrust.ledger.consensus import conviction_quorum, reliability
from swarmtrust.ledger.models import AssignmentRow, ChallengeRow, DisputeRow, VerdictRow, VerifierRow
from swarmtrust.ledger.spotchecks import SpotChecks
from swarmtrust.protocol.challenges import unpack_submission
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["spot checks"], responses=COMMON_ERRORS)
SIGNED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    400: {"model": ErrorBody},
}


def _binary_body(content_type: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {
        "requestBody": {"required": True, "content": {content_type: {"schema": schema}}, "description": description}
    }


def spot_checks(service: Service) -> SpotChecks:
    checks: SpotChecks = service.spot_checks
    return checks


Desk = Annotated[SpotChecks, Depends(spot_checks)]


@router.post(
    "/challenges",
    status_code=201,
    summary="Submit a challenge with its evidence (signed by the submitter)",
    response_model=ChallengeAccepted,
    responses={
        **SIGNED,
        **UNSUPPORTED_MEDIA,
        200: {"model": ChallengeAccepted, "description": "The same challenge again"},
    },
    openapi_extra=_binary_body("application/x-msgpack", "msgpack [signed challenge envelope, evidence bytes]"),
)
async def submit_challenge(body: MsgpackBody, caller: SignedBy, checks: Desk) -> JSONResponse:
    try:
        challenge_wire, evidence = unpack_submission(body, max_bytes=len(body))
    except WireFormatError as exc:
        raise ApiError(400, "bad_body", f"expected msgpack [signed challenge, evidence bytes]: {exc}") from None
    result = await run_in_threadpool(lambda: checks.submit_challenge(challenge_wire, evidence, sent_by=caller))
    status = 201 if result.status == "accepted" else 200
    return JSONResponse({"challenge_id": result.challenge_id, "status": result.status, "seq": result.seq}, status)


@router.get(
    "/assignments",
    summary="Claim the next assignment (signed by the verifier); 204 when there is none",
    response_model=ClaimedAssignment,
    responses={**SIGNED, 204: {"description": "Nothing to check now"}},
)
async def claim_assignment(
    caller: SignedBy,
    checks: Desk,
    model: Annotated[list[str] | None, Query(description="only challenges of these models (repeatable)")] = None,
) -> Response:
    claimed = await run_in_threadpool(checks.claim, caller, model)
    if claimed is None:
        return Response(status_code=204)
    a = claimed.assignment.record
    return JSONResponse(
        {
            "assignment_id": a.assignment_id.hex(),
            "challenge_id": a.challenge_id.hex(),
            "server_key": a.server_key.hex(),
            "round": a.round,
            "deadline_ms": a.deadline_ms,
            "signed_assignment": base64.b64encode(claimed.assignment.to_wire()).decode(),
            "challenge": _challenge_json(claimed.challenge),
        }
    )


@router.get(
    "/evidence/{digest}",
    summary="An evidence bundle, for a verifier assigned to it",
    response_class=Response,
    responses={**SIGNED, 404: {"model": ErrorBody}, 200: {"content": {"application/octet-stream": {}}}},
)
async def get_evidence(
    digest: Annotated[str, Path(pattern=HEX_KEY, description="Hex digest of the bundle")],
    caller: SignedBy,
    checks: Desk,
) -> Response:
    body = await run_in_threadpool(checks.evidence, caller, digest)
    return Response(body, media_type="application/octet-stream")


@router.post(
    "/verdicts",
    summary="Submit a signed verdict on an assignment (signed by its verifier)",
    response_model=VerdictAccepted,
    responses={**SIGNED, **UNSUPPORTED_MEDIA},
    openapi_extra=_binary_body("application/octet-stream", "A signed Verdict envelope (msgpack [body, signature])"),
)
async def submit_verdict(wire: MsgpackBody, caller: SignedBy, checks: Desk) -> JSONResponse:
    result = await run_in_threadpool(lambda: checks.submit_verdict(wire, sent_by=caller))
    return JSONResponse({"status": result.status, "phase": result.phase, "outcome": result.outcome})


@router.get("/verdicts", summary="Verdicts, newest first; about one server, by one verifier, or of one outcome")
def list_verdicts(
    engine: LedgerEngine,
    server: KeyQuery = None,
    verifier: Annotated[str | None, Query(pattern=HEX_KEY, description="Hex key of a verifier")] = None,
    outcome: Annotated[str | None, Query(pattern="^(pass|fail|invalid_evidence)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[VerdictOut]:
    filters = {VerdictRow.server_key: server, VerdictRow.verifier_key: verifier, VerdictRow.outcome: outcome}
    return Page[VerdictOut].model_validate(
        newest_first(engine, "verdicts", VerdictRow.event_seq, filters, cursor, limit)
    )


@router.get(
    "/challenges/{challenge_id}",
    summary="A challenge: its phase, outcome, assignments and verdicts",
    responses={404: {"model": ErrorBody}},
)
def get_challenge(
    engine: LedgerEngine, challenge_id: Annotated[str, Path(pattern=HEX_ID, description="Hex challenge id")]
) -> ChallengeDetail:
    with engine.connect() as connection:
        row = (
            connection.execute(select(ChallengeRow).where(ChallengeRow.challenge_id == challenge_id)).mappings().first()
        )
        if row is None:
            raise ApiError(404, "not_found", f"no challenge {challenge_id}")
        assignments = connection.execute(
            select(AssignmentRow).where(AssignmentRow.challenge_id == challenge_id).order_by(AssignmentRow.event_seq)
        ).mappings()
        verdicts = connection.execute(
            select(VerdictRow).where(VerdictRow.challenge_id == challenge_id).order_by(VerdictRow.event_seq)
        ).mappings()
        detail = _challenge_json(dict(row)) | {
            "assignments": [dict(a) for a in assignments],
            "verdicts": [dict(v) for v in verdicts],
        }
    return ChallengeDetail.model_validate(detail)


@router.get("/challenges", summary="Challenges, newest first; about one server, in one phase, of one outcome")
def list_challenges(
    engine: LedgerEngine,
    server: KeyQuery = None,
    phase: Annotated[str | None, Query(pattern="^(initial|audit|dispute|decided)$")] = None,
    outcome: Annotated[str | None, Query(pattern="^(pass|fail|invalid_evidence)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ChallengeOut]:
    filters = {ChallengeRow.server_key: server, ChallengeRow.phase: phase, ChallengeRow.outcome: outcome}
    found = newest_first(
        engine, "challenges", ChallengeRow.event_seq, filters, cursor, limit, lambda _, row: _challenge_json(row)
    )
    return Page[ChallengeOut].model_validate(found)


@router.get(
    "/disputes",
    summary="Disputes, newest first, with each verifier's vote, the verdicts a FAIL needs, and the outcome",
)
def list_disputes(
    engine: LedgerEngine,
    checks: Desk,
    state: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    server: KeyQuery = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[DisputeOut]:
    filters = {DisputeRow.state: state, DisputeRow.server_key: server}
    needed = conviction_quorum(checks.policy.dispute_verifiers)
    return Page[DisputeOut].model_validate(
        newest_first(
            engine,
            "disputes",
            DisputeRow.opened_seq,
            filters,
            cursor,
            limit,
            lambda connection, row: dispute_json(connection, row, needed),
        )
    )


def dispute_json(connection: Connection, dispute: dict[str, Any], verdicts_needed: int) -> dict[str, Any]:
    """A dispute with the evidence it is about, every verifier's vote, and the verdicts a FAIL needs before it
    may stand (``ledger.consensus.conviction_quorum``; for the API and the dashboard)."""
    challenge_id = dispute["challenge_id"]
    digest = connection.execute(
        select(ChallengeRow.evidence_digest).where(ChallengeRow.challenge_id == challenge_id)
    ).scalar()
    votes = connection.execute(
        select(VerdictRow.verifier_key, VerdictRow.outcome, VerdictRow.round, VerdictRow.max_rel_error)
        .where(VerdictRow.challenge_id == challenge_id)
        .order_by(VerdictRow.event_seq)
    ).mappings()
    voted = [dict(v) for v in votes]
    return dispute | {
        "evidence_digest": digest,
        "votes": voted,
        "verdicts": len(voted),
        "verdicts_needed": verdicts_needed,
    }


@router.get("/verifiers", summary="Verifiers with their reliability (agreement with decided outcomes)")
def list_verifiers(engine: LedgerEngine, cursor: Cursor = None, limit: Limit = 100) -> Page[VerifierOut]:
    query = select(VerifierRow).order_by(VerifierRow.public_key).limit(limit + 1)
    after = decode_cursor("verifiers", cursor, str)
    if after is not None:
        query = query.where(VerifierRow.public_key > after)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings()
        items = [dict(r) | {"reliability": reliability(r["agreements"], r["disagreements"])} for r in rows]
    return Page[VerifierOut].model_validate(page("verifiers", items, limit, lambda v: v["public_key"]))


def _challenge_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in row if k != "event_seq"} | {"seq": row.get("event_seq")}
