"""API keys: a bearer-token dependency on every route that needs one."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException
from fastapi.params import Depends as Dependency
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


def api_key_dependencies(keys: list[str]) -> list[Dependency]:
    """The dependencies a keyed route takes: none when no keys are set, so the schema then
    documents no security either."""
    if not keys:
        return []
    bearer = HTTPBearer(auto_error=False, description="One of the server's API keys (`RAG_API_KEYS`).")

    def require_api_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        token = credentials.credentials if credentials else ""
        # Compare with every key in constant time so timing reveals nothing.
        if not any([hmac.compare_digest(token.encode(), key.encode()) for key in keys]):
            raise HTTPException(
                401, "missing or invalid API key: send `Authorization: Bearer <key>`", {"WWW-Authenticate": "Bearer"}
            )

    return [Depends(require_api_key)]
