"""Every error leaves as JSON `{"detail": str}`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rag.errors import OverloadedError, RagError

log = logging.getLogger("rag.api")


def error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}" for err in exc.errors()
        )
        return error(422, problems or "invalid request")

    @app.exception_handler(OverloadedError)
    async def overloaded(request: Request, exc: OverloadedError):
        return error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        return error(exc.http_status, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal error; see the server log")
