"""Errors as HTTP responses, in one place and one shape: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from swarmtrust.ledger.errors import RequestRefusedError, SchemaNotReadyError
from swarmtrust.protocol.errors import RecordTooLargeError, WireFormatError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports as is."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.status)

    @app.exception_handler(RequestRefusedError)
    async def _refused(_: Request, exc: RequestRefusedError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.status)

    @app.exception_handler(WireFormatError)
    async def _malformed(_: Request, exc: WireFormatError) -> JSONResponse:
        # Routes name their own codes; this is the net under them: bytes that decode to no record are the
        # sender's mistake (400, or 413 when over a record's size limit), never the service's.
        too_large = isinstance(exc, RecordTooLargeError)
        return JSONResponse(error_body("too_large" if too_large else "bad_body", str(exc)), 413 if too_large else 400)

    @app.exception_handler(SchemaNotReadyError)
    async def _schema(_: Request, exc: SchemaNotReadyError) -> JSONResponse:
        return JSONResponse(error_body("schema_not_ready", str(exc)), status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse(error_body("invalid_request", f"{where}: {first.get('msg')}"), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering a request")
        return JSONResponse(error_body("internal_error", "the service failed; see its log"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
