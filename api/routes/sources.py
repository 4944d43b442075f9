"""GET /v1/sources/{source}: lines of an indexed source (only indexed sources can be read)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.schemas import SourceLines
from api.state import State
from rag.errors import InputError

router = APIRouter()


@router.get("/v1/sources/{source:path}", response_model=SourceLines, summary="Lines of an indexed source")
def sources(
    state: State,
    source: str,
    start: int | None = Query(None, ge=1, description="First line (1-based)."),
    end: int | None = Query(None, ge=1, description="Last line, inclusive."),
):
    state.require_ready()
    if not source or source.startswith("/") or "\x00" in source or ".." in source.split("/") or "\\" in source:
        raise InputError("source must be a path relative to the corpus, without '..'")
    return state.service.source_lines(source, start, end)
