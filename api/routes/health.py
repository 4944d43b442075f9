"""GET /health: readiness, index size and model names (open to all, for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.schemas import Health
from api.state import State
from rag.errors import RagError

router = APIRouter()


@router.get("/health", response_model=Health, summary="Readiness, index size and model names")
def health(state: State):
    chunks = documents = None
    if state.status == "ready":
        try:
            snapshot = state.service.retriever.snapshot
            chunks, documents = snapshot.size, len(snapshot.documents)
        except RagError as exc:
            state.status, state.detail = "not_ready", str(exc)
    body = Health(
        status=state.status,
        detail=state.detail,
        chunks=chunks,
        documents=documents,
        embedding_model=state.settings.embedding_model,
        llm_model=state.settings.llm_model,
        auth_required=bool(state.settings.api_keys),
        generations_running=state.gate.running,
        generations_waiting=state.gate.waiting,
    )
    return JSONResponse(body.model_dump(), status_code=200 if state.status == "ready" else 503)
