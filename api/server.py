"""Running the app with uvicorn (`rag serve`)."""

from __future__ import annotations

import logging
import sys

from rag.settings import Settings


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from api.app import create_app

    host = host or settings.host
    port = port or settings.port
    logging.getLogger("rag").setLevel(logging.INFO)
    logging.getLogger("rag.api").setLevel(logging.INFO)
    app = create_app(settings)
    print(f"rag-lines: serving on http://{host}:{port}/ (API docs at /docs); loading models...", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
