"""ASGI middleware: request logs and counts, and the request body limit."""

from __future__ import annotations

import json
import logging
import time

from fastapi import HTTPException
from starlette.datastructures import Headers

from api.state import Metrics

log = logging.getLogger("rag.api")


class RequestLog:
    """One structured log line and one request count per request, once its response has ended
    (a stream's answer and token counts are known only then)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_recording_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            template = _route_template(scope)
            # A label is a route template, never the raw path: paths are unbounded, labels must not be.
            self.metrics.requests.labels(template or "unmatched", str(status)).inc()
            record = {
                "method": scope["method"],
                "route": template or scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                **scope.get("state", {}).get("log", {}),
            }
            log.info(json.dumps(record))


def _route_template(scope) -> str | None:
    """The template of the route that answered ("/v1/sources/{source:path}"), or None if none did."""
    route = scope.get("route")
    if route is not None:
        return route.path
    # FastAPI leaves no route in the scope for a mount (the static files), only its prefix in root_path.
    app_root = scope.get("app_root_path", scope.get("root_path", ""))
    mount = scope.get("root_path", "")[len(app_root):]
    return f"{mount}/{{path}}" if mount else None


class BodyLimit:
    """A request body larger than `max_bytes` is refused (413) while it is read, chunked bodies
    included, so no body is buffered whole first.

    The refusal is raised from `receive`, inside the route reading the body, so it is answered by
    the app's error handlers like any error. (FastAPI's own `max_body_size` answers a declared
    Content-Length over the limit in plain text, never as `{"detail": ...}`.)
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0

        def too_large() -> HTTPException:
            return HTTPException(413, f"request body is larger than {self.max_bytes} bytes")

        async def limited_receive():
            nonlocal received
            # uvicorn refuses a malformed Content-Length itself; other servers and test clients pass it on.
            if declared is not None and not declared.isdigit():
                raise HTTPException(400, "invalid Content-Length")
            if declared is not None and int(declared) > self.max_bytes:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large()
            return message

        await self.app(scope, limited_receive, send)
