"""The FastAPI application: thin routes over RagService, one router per feature (api/routes/).

`create_app(settings, service)` builds the app; tests pass a service bound to a
fake LLM. Models load in a background thread at start-up and `/health` says
whether the service is loading, ready, or not ready (and why).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import api_key_dependencies
from api.docs import add_docs
from api.errors import add_error_handlers
from api.middleware import BodyLimit, RequestLog
from api.page import add_page
from api.routes import ask, chat, health, metrics, search, sources
from api.state import AppState
from rag.service import RagService
from rag.settings import Settings


def create_app(settings: Settings, service: RagService | None = None, warm_up: bool = True, load_llm: bool = True) -> FastAPI:
    state = AppState(settings, service or RagService(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm_up:
            threading.Thread(target=state.warm_up, args=(load_llm,), daemon=True, name="warm-up").start()
        else:
            state.status, state.detail = "ready", None
        yield
        state.searches.close()

    app = FastAPI(
        title="rag-lines",
        version="0.1.0",
        description="Answers from your documents; every citation names a file and lines and is checked.",
        lifespan=lifespan,
        # Served by api/docs.py instead: offline, and behind the API key.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.rag = state

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog, metrics=state.metrics)
    if settings.cors_origins:
        # Added last so it wraps everything: preflights (which carry no API key) are answered
        # here, and 401/413 responses still carry the CORS headers a browser needs to read them.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    add_error_handlers(app)

    # Every route but the page, its static files and /health needs a key when keys are set.
    keyed = api_key_dependencies(settings.api_keys)
    app.include_router(health.router)
    for feature in (search, sources, ask, chat, metrics):
        app.include_router(feature.router, dependencies=keyed)
    add_docs(app, keyed)
    add_page(app)
    return app
