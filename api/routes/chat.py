"""POST /v1/chat/completions: OpenAI-compatible chat over the documents, whole or streamed."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.generation import Event, Generation, answer_body, sse_frame
from api.schemas import ChatChoice, ChatChoiceMessage, ChatRequest, ChatResponse
from api.state import State
from rag.errors import InputError
from rag.text import citation_label
from rag.types import Answer

router = APIRouter()


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat over the documents",
    response_model=ChatResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat(request: Request, state: State, body: ChatRequest):
    turns = [{"role": m.role, "content": _text(m.content)} for m in body.messages]
    users = [i for i, t in enumerate(turns) if t["role"] == "user" and t["content"].strip()]
    if not users:
        raise InputError("messages must contain a user message with text")
    question = turns[users[-1]]["content"]
    history = turns[: users[-1]]
    generation = await Generation.start(request, question, None, history)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    if not body.stream:
        answer = await generation.answer()
        if answer.status == "model_unavailable":
            return JSONResponse(answer_body(answer), status_code=502)
        return ChatResponse(
            id=completion_id,
            created=created,
            model=answer.model,
            choices=[ChatChoice(message=ChatChoiceMessage(content=answer.answer))],
            usage=_usage(answer),
            citations=answer.citations,
            answerable=answer.answerable,
        )

    def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
        return sse_frame(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": state.settings.llm_model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    shown = 0

    def frames(event: Event) -> list[dict]:
        nonlocal shown
        if isinstance(event, Answer):
            tail = _sources_footer(event) if event.answerable else ("\n\n" if shown else "") + event.answer
            return [
                chunk({"content": tail}),
                chunk(
                    {},
                    "stop",
                    usage=_usage(event),
                    citations=[c.model_dump() for c in event.citations],
                    answerable=event.answerable,
                    status=event.status,
                ),
            ]
        # only sentences that passed the claim check reach the client
        shown += 1
        return [chunk({"content": ("" if shown == 1 else " ") + event.text})]

    return generation.stream(frames, opening=[chunk({"role": "assistant", "content": ""})], closing=[{"data": "[DONE]"}])


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _usage(answer: Answer) -> dict[str, int]:
    prompt = answer.usage.get("prompt_tokens", 0)
    completion = answer.usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _sources_footer(answer: Answer) -> str:
    labels = [citation_label(c.source, c.start_line, c.end_line, getattr(c, "page", None)) for c in answer.citations]
    return "\n\nSources (verified): " + " ".join(labels)
