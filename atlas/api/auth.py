"""Bearer-token guard of the API's write endpoints (token from config: env ATLAS_API_TOKEN)."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require_token(request: Request,
                  creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless the request carries the configured bearer token; 403 when none is configured."""
    expected = request.app.state.resources.config.api_token
    if not expected:
        raise HTTPException(403, "write endpoints are disabled; set ATLAS_API_TOKEN (api_token) "
                                 "and restart `atlas serve`")
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token; send 'Authorization: Bearer <token>'",
                            headers=_CHALLENGE)
    if not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise HTTPException(401, "wrong bearer token; use the server's ATLAS_API_TOKEN",
                            headers=_CHALLENGE)
