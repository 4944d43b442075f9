"""Request and response models of the HTTP API (shown with examples at /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.types import Citation, Passage

QUESTION_EXAMPLE = "What was Alibaba's net income in the fourth quarter?"


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"question": QUESTION_EXAMPLE, "top_k": 5}]})

    question: str = Field(min_length=1, description="The question to answer from the indexed documents.")
    top_k: int | None = Field(None, ge=1, le=20, description="Passages retrieved [5].")
    stream: bool = Field(
        False,
        description="Server-sent events: one `delta` event per sentence that passed the claim check (text with its "
        "labels, the sentence and its citations), then one `answer` event with the whole answer object.",
    )


class SearchResponse(BaseModel):
    passages: list[Passage]


class SourceLines(BaseModel):
    source: str
    start_line: int
    end_line: int
    lines: list[str]
    total_lines: int = Field(description="Lines of the source, or of the page for a paged document.")
    page: int | None = Field(None, description="Paged documents: the page these lines are on (numbered within it).")
    pages: int | None = Field(None, description="Paged documents: how many pages the document has.")
    page_width: float | None = Field(None, description="Paged documents: the page's width in points (1/72 inch).")
    page_height: float | None = Field(None, description="Paged documents: the page's height in points.")
    boxes: list[list[float] | None] | None = Field(
        None, description="Paged documents: each line's box [x0, top, x1, bottom] in points from the page's top-left corner."
    )


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "rag", "messages": [{"role": "user", "content": QUESTION_EXAMPLE}]}]},
    )

    model: str | None = Field(None, description="Ignored: the server answers with its configured model.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatChoiceMessage
    finish_reason: str = "stop"


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    citations: list[Citation]
    answerable: bool


class Health(BaseModel):
    status: Literal["loading", "ready", "not_ready"]
    detail: str | None = None
    chunks: int | None = None
    documents: int | None = None
    embedding_model: str
    llm_model: str
    auth_required: bool
    generations_running: int
    generations_waiting: int
