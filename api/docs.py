"""The OpenAPI schema, Swagger UI (/docs) and ReDoc (/redoc), all served from this machine.

FastAPI's own doc pages load their scripts from a CDN; here the scripts come from the
`fastapi-offline` package, so the docs work with no network. The pages are our own routes
(FastAPI's helpers render them) so that, like every route but the chat page and /health,
they need the API key when keys are set.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static/docs"
OPENAPI_URL = "/openapi.json"


def add_docs(app: FastAPI, dependencies: list) -> None:
    """Add the schema and doc pages behind `dependencies`; call before mounting `/static`,
    which would otherwise take the assets' URLs."""
    app.openapi = _documenting_errors_as_sent(app.openapi)
    router = APIRouter(include_in_schema=False, dependencies=dependencies)

    @router.get(OPENAPI_URL)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,  # no OAuth2 flow to return from
        )

    @router.get("/redoc")
    def redoc():
        return get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")


def _documenting_errors_as_sent(default_openapi):
    """FastAPI documents 422 as `{"detail": [objects]}`; this service sends `{"detail": str}`."""

    def openapi() -> dict:
        schema = default_openapi()
        schemas = schema.get("components", {}).get("schemas", {})
        if "ValidationError" in schemas:
            schemas["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "required": ["detail"],
                "properties": {"detail": {"type": "string", "title": "Detail"}},
            }
            schemas.pop("ValidationError")
        return schema

    return openapi
