"""Bearer-token guard of the API's write endpoints (token from config: env ATLAS_API_TOKEN)."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from atlas.api.models import ErrorBody

_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
AUTH_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    403: {"model": ErrorBody, "description": "A token was sent but writes are disabled (no "
                                             "api_token configured)"},
}
"""Error responses of the guarded write endpoints, for the OpenAPI document."""


def require_token(request: Request,
                  creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 without the configured bearer token; 403 with one while none is configured."""
    expected = request.app.state.resources.config.api_token
    if creds is None or creds.scheme.lower() != "bearer":
        hint = "" if expected else " (and writes are disabled here: set ATLAS_API_TOKEN)"
        raise HTTPException(401, "missing bearer token; send 'Authorization: Bearer <token>'"
                            + hint, headers=_CHALLENGE)
    if not expected:
        raise HTTPException(403, "write endpoints are disabled; set ATLAS_API_TOKEN (api_token) "
                                 "and restart `atlas serve`")
    if not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise HTTPException(401, "wrong bearer token; use the server's ATLAS_API_TOKEN",
                            headers=_CHALLENGE)
