"""GET /v1/sources/{source}: lines of an indexed source; GET /v1/pages/{source}: a page of a paged one
as an image. Only indexed sources can be read."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api.schemas import SourceLines
from api.state import State
from rag.errors import InputError
from rag.loaders.render import MAX_WIDTH

router = APIRouter()


def _checked(source: str) -> str:
    if not source or source.startswith("/") or "\x00" in source or ".." in source.split("/") or "\\" in source:
        raise InputError("source must be a path relative to the corpus, without '..'")
    return source


@router.get("/v1/sources/{source:path}", response_model=SourceLines, response_model_exclude_none=True,
            summary="Lines of an indexed source")
def sources(
    state: State,
    source: str,
    start: int | None = Query(None, ge=1, description="First line (1-based; within the page for a paged document)."),
    end: int | None = Query(None, ge=1, description="Last line, inclusive."),
    page: int | None = Query(None, ge=1, description="Paged documents (PDF): the page [1]."),
):
    state.require_ready()
    return state.service.source_lines(_checked(source), start, end, page)


@router.get(
    "/v1/pages/{source:path}",
    summary="A page of an indexed PDF as a PNG image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The page, rendered."}},
)
def page_image(
    state: State,
    source: str,
    page: int = Query(1, ge=1, description="The page (1-based)."),
    width: int = Query(1000, ge=100, le=MAX_WIDTH, description="Width of the image in pixels."),
):
    state.require_ready()
    png = state.service.page_image(_checked(source), page, width)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
