"""API error handling: AtlasError -> 400/404, anything else -> 500, always {"error": message}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from atlas.api.models import ErrorBody
from atlas.errors import AtlasError, InputError

log = logging.getLogger(__name__)

GENERIC = "internal error; the server log has the details"
ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "Invalid request (parameters, body, or a store "
                                             "refused it); the message says which and the fix"},
    404: {"model": ErrorBody, "description": "No such resource (feature, prompt, run, query)"},
    500: {"model": ErrorBody, "description": "Internal error; the server log has the details"},
}
"""Error responses every API operation declares in the OpenAPI document."""


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


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return _error(exc.status_code, message, headers)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, GENERIC)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtlasError, _atlas)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ResponseValidationError, _internal)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)
