"""GET /v1/search: the best passages for a question."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api.schemas import SearchResponse
from api.state import State

router = APIRouter()


@router.get("/v1/search", response_model=SearchResponse, summary="The best passages for a question")
async def search(
    state: State,
    q: str = Query(min_length=1, description="The question or keywords.", examples=["Alibaba net income"]),
    k: int = Query(5, ge=1, le=50, description="Number of passages."),
):
    state.require_ready()
    state.check_length(q)
    passages = await state.searches.search_json(state.service, q, k)
    # Serialized already (in a search process or thread): the event loop only sends the bytes.
    return Response(b'{"passages":%s}' % passages, media_type="application/json")
