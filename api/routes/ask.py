"""POST /v1/ask: an answer with checked citations, whole or streamed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.generation import Event, Generation, answer_body, sse_frame
from api.schemas import AskRequest
from rag.types import Answer

router = APIRouter()


@router.post(
    "/v1/ask",
    summary="Answer a question with verified citations",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}}, 502: {"description": "model unavailable; passages included"}},
)
async def ask(request: Request, body: AskRequest):
    generation = await Generation.start(request, body.question, body.top_k, [])
    if not body.stream:
        answer = await generation.answer()
        return JSONResponse(answer_body(answer), status_code=502 if answer.status == "model_unavailable" else 200)
    return generation.stream(_frames)


def _frames(event: Event) -> list[dict]:
    if isinstance(event, Answer):
        return [sse_frame(answer_body(event), "error" if event.status == "model_unavailable" else "answer")]
    # a sentence that passed the claim check, with its citations
    return [sse_frame({"text": event.text + " ", **event.model_dump(exclude={"text"})}, "delta")]
