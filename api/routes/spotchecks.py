"""Challenges, assignments, evidence, verdicts and disputes: the REST face of ``ledger.spotchecks``."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import msgpack
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.auth import SignedBy
from api.errors import ApiError
from ledger.consensus import reliability
from ledger.models import AssignmentRow, ChallengeRow, DisputeRow, VerdictRow, VerifierRow
from ledger.spotchecks import SpotChecks
from node.challenges import Challenge, Verdict
from node.errors import WireFormatError

router = APIRouter(prefix="/api/v1", tags=["spot checks"])
HEX_KEY = r"^[0-9a-f]{64}$"


def spot_checks(request: Request) -> SpotChecks:
    checks: SpotChecks = request.app.state.spot_checks
    return checks


Desk = Annotated[SpotChecks, Depends(spot_checks)]


@router.post("/challenges", status_code=201, summary="Submit a challenge with its evidence (signed by the submitter)")
async def submit_challenge(request: Request, caller: SignedBy, checks: Desk) -> JSONResponse:
    body = await request.body()
    try:
        challenge_wire, evidence = msgpack.unpackb(body, raw=False)
        challenge = Challenge.decode(msgpack.unpackb(challenge_wire, raw=False)[0])
    except (ValueError, TypeError, IndexError, msgpack.ExtraData, msgpack.FormatError, WireFormatError) as exc:
        raise ApiError(400, "bad_body", f"expected msgpack [signed challenge, evidence bytes]: {exc}") from None
    if challenge.submitter_key != caller:
        raise ApiError(403, "not_yours", "a challenge is submitted by the key that signed it")
    result = await run_in_threadpool(checks.submit_challenge, challenge_wire, evidence)
    status = 201 if result.status == "accepted" else 200
    return JSONResponse({"challenge_id": result.challenge_id, "status": result.status, "seq": result.seq}, status)


@router.get("/assignments", summary="Claim the next assignment (signed by the verifier); 204 when there is none")
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


@router.get("/evidence/{digest}", summary="An evidence bundle, for a verifier assigned to it")
async def get_evidence(
    digest: Annotated[str, Query(pattern=HEX_KEY)] | str, caller: SignedBy, checks: Desk
) -> Response:
    body = await run_in_threadpool(checks.evidence, caller, digest)
    return Response(body, media_type="application/octet-stream")


@router.post("/verdicts", summary="Submit a signed verdict on an assignment (signed by its verifier)")
async def submit_verdict(request: Request, caller: SignedBy, checks: Desk) -> JSONResponse:
    wire = await request.body()
    try:
        verdict = Verdict.decode(msgpack.unpackb(wire, raw=False)[0])
    except (ValueError, TypeError, IndexError, msgpack.ExtraData, msgpack.FormatError, WireFormatError) as exc:
        raise ApiError(400, "bad_body", f"expected a signed verdict: {exc}") from None
    if verdict.verifier_key != caller:
        raise ApiError(403, "not_yours", "a verdict is submitted by the verifier that signed it")
    result = await run_in_threadpool(checks.submit_verdict, wire)
    return JSONResponse({"status": result.status, "phase": result.phase, "outcome": result.outcome})


@router.get("/verdicts", summary="Verdicts, newest first, optionally about one server")
def list_verdicts(
    request: Request,
    server: Annotated[str | None, Query(pattern=HEX_KEY, description="hex public key of a server")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = select(VerdictRow).order_by(VerdictRow.event_seq.desc()).limit(limit)
    if server is not None:
        query = query.where(VerdictRow.server_key == server)
    with request.app.state.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


@router.get("/challenges/{challenge_id}", summary="A challenge: its phase, outcome, assignments and verdicts")
def get_challenge(request: Request, challenge_id: str) -> dict[str, Any]:
    with request.app.state.engine.connect() as connection:
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
        return _challenge_json(dict(row)) | {
            "assignments": [dict(a) for a in assignments],
            "verdicts": [dict(v) for v in verdicts],
        }


@router.get("/challenges", summary="Challenges, newest first, optionally about one server")
def list_challenges(
    request: Request,
    server: Annotated[str | None, Query(pattern=HEX_KEY)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = select(ChallengeRow).order_by(ChallengeRow.event_seq.desc()).limit(limit)
    if server is not None:
        query = query.where(ChallengeRow.server_key == server)
    with request.app.state.engine.connect() as connection:
        return [_challenge_json(dict(row)) for row in connection.execute(query).mappings()]


@router.get("/disputes", summary="Disputes with each verifier's vote and the outcome")
def list_disputes(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = select(DisputeRow).order_by(DisputeRow.opened_seq.desc()).limit(limit)
    if state is not None:
        query = query.where(DisputeRow.state == state)
    out = []
    with request.app.state.engine.connect() as connection:
        for dispute in connection.execute(query).mappings():
            challenge = connection.execute(
                select(ChallengeRow.evidence_digest).where(ChallengeRow.challenge_id == dispute["challenge_id"])
            ).scalar()
            votes = connection.execute(
                select(VerdictRow.verifier_key, VerdictRow.outcome, VerdictRow.round, VerdictRow.max_rel_error)
                .where(VerdictRow.challenge_id == dispute["challenge_id"])
                .order_by(VerdictRow.event_seq)
            ).mappings()
            out.append(dict(dispute) | {"evidence_digest": challenge, "votes": [dict(v) for v in votes]})
    return out


@router.get("/verifiers", summary="Verifiers with their reliability (agreement with decided outcomes)")
def list_verifiers(request: Request) -> list[dict[str, Any]]:
    with request.app.state.engine.connect() as connection:
        rows = connection.execute(select(VerifierRow).order_by(VerifierRow.first_seq)).mappings()
        return [dict(r) | {"reliability": reliability(r["agreements"], r["disagreements"])} for r in rows]


def _challenge_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in row if k != "event_seq"} | {"seq": row.get("event_seq")}
