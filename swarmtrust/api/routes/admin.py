"""Administrators' REST actions (bearer token): quarantine and release servers, run the audit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.admin_actions import act
from swarmtrust.api.admin_auth import Admin, AdminCredentials
from swarmtrust.api.deps import KeyPath, LedgerEngine
from swarmtrust.api.errors import ApiError
from swarmtrust.api.schemas import (
    COMMON_ERRORS,
    AdminActionIn,
    AdminActionOut,
    AuditOut,
    AuditProblemOut,
    AuditRunOut,
    ErrorBody,
)
from swarmtrust.api.service import LedgerService, Service
from swarmtrust.ledger.directory import last_audit, run_audit
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(
    prefix=API_PREFIX + "/admin",
    tags=["administration"],
    responses={**COMMON_ERRORS, 401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)


async def _act(service: LedgerService, admin: AdminCredentials, key: str, action: str, reason: str) -> Any:
    seq = await run_in_threadpool(
        act,
        service.engine,
        service.ledger_key,
        action=action,
        server_key=key,
        reason=reason,
        admin=admin.name,
    )
    return AdminActionOut(seq=seq, action=action, server_key=key)


@router.post(
    "/servers/{key}/quarantine",
    summary="Quarantine a server at once (recorded as a ledger-signed event with the reason)",
    responses={404: {"model": ErrorBody}},
)
async def quarantine(service: Service, admin: Admin, key: KeyPath, body: AdminActionIn) -> AdminActionOut:
    result: AdminActionOut = await _act(service, admin, key, "quarantine", body.reason)
    return result


@router.post(
    "/servers/{key}/release",
    summary="Release a quarantined server: routable again, every session checked until it earns trust back",
    responses={404: {"model": ErrorBody}},
)
async def release(service: Service, admin: Admin, key: KeyPath, body: AdminActionIn) -> AdminActionOut:
    result: AdminActionOut = await _act(service, admin, key, "release", body.reason)
    return result


@router.post("/audit", summary="Audit the whole ledger now and keep the result")
async def audit(admin: Admin, engine: LedgerEngine) -> AuditOut:
    report = await run_in_threadpool(run_audit, engine)
    return AuditOut(
        ok=report.ok,
        events_checked=report.events_checked,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        first_bad_seq=report.first_bad_seq,
        problems=[AuditProblemOut(seq=p.seq, where=p.where, message=p.message) for p in report.problems[:1000]],
    )


@router.get("/audit", summary="The last audit's result", responses={404: {"model": ErrorBody}})
def last(admin: Admin, engine: LedgerEngine) -> AuditRunOut:
    found = last_audit(engine)
    if found is None:
        raise ApiError(404, "not_found", "no audit has run through this service yet: POST /api/v1/admin/audit")
    return AuditRunOut.model_validate(found)
