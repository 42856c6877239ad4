"""API error handling: AtlasError -> 400/404, anything else -> 500, always {"error": message}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from atlas.errors import AtlasError, InputError

log = logging.getLogger(__name__)

GENERIC = "internal error; the server log has the details"


class NotFoundError(InputError):
    """The asked-for resource (feature, prompt, run, query) does not exist: HTTP 404."""


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _atlas(_: Request, exc: AtlasError) -> JSONResponse:
    return _error(404 if isinstance(exc, NotFoundError) else 400, str(exc).splitlines()[0])


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return _error(400, "invalid request: " + "; ".join(parts))


async def _http(_: Request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return _error(exc.status_code, message, getattr(exc, "headers", None))


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, GENERIC)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtlasError, _atlas)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ResponseValidationError, _internal)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)
