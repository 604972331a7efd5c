"""Models: the dtypes each may be served in (public), registered and given tolerances by administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.admin_auth import Admin
from swarmtrust.api.bodies import MsgpackBody
from swarmtrust.api.deps import LedgerEngine
from swarmtrust.api.errors import ApiError
from swarmtrust.api.model_schemas import DTYPE_PATTERN, ModelIn, ModelOut, RegisteredResult
from swarmtrust.api.schemas import COMMON_ERRORS, PLAIN_TEXT, ErrorBody
from swarmtrust.api.service import Service
from swarmtrust.ledger.model_registry import add_tolerance, list_models, model_view, register_model, tolerance_wire
from swarmtrust.protocol.model_records import DEFAULT_DEVICE_KIND, DEVICE_KINDS
from swarmtrust.protocol.receipts import MAX_MODEL_ID
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["models"], responses=COMMON_ERRORS)
ModelPath = Annotated[
    str, Path(min_length=1, max_length=MAX_MODEL_ID, pattern=PLAIN_TEXT, description="The model id, e.g. tiny")
]
DtypePath = Annotated[str, Path(pattern=DTYPE_PATTERN, description="A serving dtype, e.g. bfloat16")]
DeviceQuery = Annotated[
    str,
    Query(
        pattern="^(" + "|".join(DEVICE_KINDS) + ")$",
        description="The device kind the verifier replays on: " + ", ".join(DEVICE_KINDS),
    ),
]
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 503: {"model": ErrorBody}}
SIGNED_TOLERANCE = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A ToleranceRecord's signed envelope (msgpack [body, signature]), as "
        "`swarmtrust verifier sign-tolerance` writes it",
    }
}


@router.get("/models", summary="Every registered model: its allowed serving dtypes, history and tolerances")
def models(engine: LedgerEngine) -> list[ModelOut]:
    with engine.connect() as connection:
        return [ModelOut.model_validate(view) for view in list_models(connection)]


@router.get(
    "/models/{model_id}",
    summary="A model's allowed serving dtypes (the ledger-signed registration), its history and tolerances",
    responses={404: {"model": ErrorBody}},
)
def model(engine: LedgerEngine, model_id: ModelPath) -> ModelOut:
    with engine.connect() as connection:
        view = model_view(connection, model_id)
    if view is None:
        raise ApiError(
            404,
            "unknown_model",
            f"model {model_id!r} is not registered at this ledger: clients and verifiers fall back to its "
            "config.json torch_dtype; an administrator registers it with POST /api/v1/admin/models",
        )
    return ModelOut.model_validate(view)


@router.get(
    "/models/{model_id}/tolerances/{dtype}",
    summary="The latest calibrator-signed tolerance record for a model, dtype and replay device: its envelope",
    response_class=Response,
    responses={
        404: {"model": ErrorBody},
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A signed ToleranceRecord envelope (msgpack [body, signature]); verify its signature",
        },
    },
)
def tolerance_record(
    engine: LedgerEngine, model_id: ModelPath, dtype: DtypePath, device: DeviceQuery = DEFAULT_DEVICE_KIND
) -> Response:
    with engine.connect() as connection:
        wire = tolerance_wire(connection, model_id, dtype, device)
    if wire is None:
        raise ApiError(
            404,
            "no_tolerance",
            f"this ledger holds no tolerance record for {model_id} {dtype} replayed on {device}, so verifiers there "
            "do not judge sessions of it: an administrator adds one with POST /api/v1/admin/tolerances",
        )
    return Response(wire, media_type="application/octet-stream")


@router.post(
    "/admin/models",
    tags=["administration"],
    summary="Register the dtypes a model may be served in, the default first (a ledger-signed event)",
    responses=ADMIN_ERRORS,
)
async def register(service: Service, admin: Admin, engine: LedgerEngine, body: ModelIn) -> RegisteredResult:
    key = service.ledger_key
    done: Any = await run_in_threadpool(lambda: register_model(engine, key, model_id=body.model_id, dtypes=body.dtypes))
    return RegisteredResult(status=done.status, seq=done.seq)


@router.post(
    "/admin/tolerances",
    tags=["administration"],
    summary="Record a calibrator-signed tolerance record for a model and dtype (the latest per pair is kept)",
    openapi_extra=SIGNED_TOLERANCE,
    responses=ADMIN_ERRORS,
)
async def tolerance(admin: Admin, engine: LedgerEngine, body: MsgpackBody) -> RegisteredResult:
    done: Any = await run_in_threadpool(add_tolerance, engine, body)
    return RegisteredResult(status=done.status, seq=done.seq)
