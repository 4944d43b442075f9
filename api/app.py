"""The FastAPI application: thin routes over RagService.

`create_app(settings, service)` builds the app; tests pass a service bound to a
fake LLM. Models load in a background thread at start-up and `/health` says
whether the service is loading, ready, or not ready (and why).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from api.schemas import (
    AskRequest,
    ChatChoice,
    ChatChoiceMessage,
    ChatRequest,
    ChatResponse,
    Health,
    SearchResponse,
    SourceLines,
)
from rag.errors import InputError, OverloadedError, RagError
from rag.service import RagService
from rag.settings import Settings
from rag.streaming import GenerationGate
from rag.text import citation_label
from rag.types import Answer, AnswerSentence

log = logging.getLogger("rag.api")
STATIC = Path(__file__).parent / "static"
_PUBLIC = ("/health", "/static/", "/favicon.ico")


class AppState:
    def __init__(self, settings: Settings, service: RagService):
        self.settings = settings
        self.service = service
        self.status = "loading"
        self.detail: str | None = "loading the index and models"
        self.gate = GenerationGate(
            settings.max_concurrent_generations, settings.max_queued_generations, settings.queue_timeout_s
        )
        self.counters: Counter[str] = Counter()
        self.lock = threading.Lock()

    def warm_up(self, llm: bool) -> None:
        try:
            self.service.warm_up(llm=llm)
            self.status, self.detail = "ready", None
        except RagError as exc:
            self.status, self.detail = "not_ready", str(exc)
            log.error("not ready: %s", exc)
        except Exception as exc:  # noqa: BLE001 - the server must start and say why it is not ready
            self.status, self.detail = "not_ready", f"start-up failed: {type(exc).__name__}"
            log.exception("start-up failed")

    def count(self, key: str, value: int = 1) -> None:
        with self.lock:
            self.counters[key] += value


def _error(status: int, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _answer_payload(answer: Answer) -> dict:
    return answer.model_dump(mode="json")


def create_app(settings: Settings, service: RagService | None = None, warm_up: bool = True, load_llm: bool = True) -> FastAPI:
    service = service or RagService(settings)
    state = AppState(settings, service)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm_up:
            threading.Thread(target=state.warm_up, args=(load_llm,), daemon=True, name="warm-up").start()
        else:
            state.status, state.detail = "ready", None
        yield

    app = FastAPI(
        title="rag-lines",
        version="0.1.0",
        description="Answers from your documents; every citation names a file and lines and is checked.",
        lifespan=lifespan,
    )
    app.state.rag = state

    # Middleware -------------------------------------------------------------------------
    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.perf_counter()
        path = request.url.path
        response = None
        if settings.api_keys and path != "/" and not path.startswith(_PUBLIC):
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            # Compare with every key in constant time so timing reveals nothing.
            valid = any([hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys])
            if not valid:
                response = _error(401, "missing or invalid API key: send `Authorization: Bearer <key>`",
                                  {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if response is None and length is not None:
            if not length.isdigit():
                response = _error(400, "invalid Content-Length")
            elif int(length) > settings.max_body_bytes:
                response = _error(413, f"request body is larger than {settings.max_body_bytes} bytes")
        if response is None and request.method == "POST" and length is None:
            body = await request.body()  # chunked upload: measure what actually arrived
            if len(body) > settings.max_body_bytes:
                response = _error(413, f"request body is larger than {settings.max_body_bytes} bytes")
        if response is None:
            response = await call_next(request)

        def record() -> None:
            route = request.scope.get("route")
            state.count(f'requests{{route="{getattr(route, "path", path)}",status="{response.status_code}"}}')
            log.info(
                json.dumps(
                    {
                        "method": request.method,
                        "route": getattr(route, "path", path),
                        "status": response.status_code,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        **getattr(request.state, "log", {}),
                    }
                )
            )

        if response.headers.get("content-type", "").startswith("text/event-stream"):
            # A stream's answer (and its token counts) is known only when the stream ends: log then.
            return _Finally(response, record)
        record()
        return response

    if settings.cors_origins:
        # Added after the guard so it wraps it: preflights (which carry no API key) are answered
        # here, and 401/413 responses still carry the CORS headers a browser needs to read them.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    # Errors -----------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}" for err in exc.errors()
        )
        return _error(422, problems or "invalid request")

    @app.exception_handler(OverloadedError)
    async def overloaded(request: Request, exc: OverloadedError):
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        return _error(exc.http_status, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal error; see the server log")

    def require_ready() -> None:
        if state.status == "not_ready":
            from rag.errors import IndexError_

            raise IndexError_(state.detail or "the service is not ready")

    # Routes -----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", response_model=Health, summary="Readiness, index size and model names")
    def health():
        chunks = documents = None
        if state.status == "ready":
            try:
                snapshot = service.retriever.snapshot
                chunks, documents = snapshot.size, len(snapshot.documents)
            except RagError as exc:
                state.status, state.detail = "not_ready", str(exc)
        body = Health(
            status=state.status,
            detail=state.detail,
            chunks=chunks,
            documents=documents,
            embedding_model=settings.embedding_model,
            llm_model=settings.llm_model,
            auth_required=bool(settings.api_keys),
            generations_running=state.gate.running,
            generations_waiting=state.gate.waiting,
        )
        return JSONResponse(body.model_dump(), status_code=200 if state.status == "ready" else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics():
        lines = [f"rag_{key} {value}" for key, value in sorted(state.counters.items())]
        lines += [
            f"rag_generations_running {state.gate.running}",
            f"rag_generations_waiting {state.gate.waiting}",
            f"rag_generations_rejected_total {state.gate.rejected}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n")

    @app.get("/v1/search", response_model=SearchResponse, summary="The best passages for a question")
    def search(
        request: Request,
        q: str = Query(min_length=1, description="The question or keywords.", examples=["Alibaba net income"]),
        k: int = Query(5, ge=1, le=50, description="Number of passages."),
    ):
        require_ready()
        _check_length(q)
        passages = service.search(q, k)
        return SearchResponse(passages=passages)

    @app.get("/v1/sources/{source:path}", response_model=SourceLines, summary="Lines of an indexed source")
    def sources(
        source: str,
        start: int | None = Query(None, ge=1, description="First line (1-based)."),
        end: int | None = Query(None, ge=1, description="Last line, inclusive."),
    ):
        require_ready()
        if not source or source.startswith("/") or "\x00" in source or ".." in source.split("/") or "\\" in source:
            raise InputError("source must be a path relative to the corpus, without '..'")
        return service.source_lines(source, start, end)

    def _check_length(question: str) -> None:
        if len(question) > settings.max_question_chars:
            raise _TooLong(f"the question is longer than {settings.max_question_chars} characters")

    def _generate(question: str, k: int | None, history: list[dict]) -> Iterator[AnswerSentence | Answer]:
        """Hold an answer slot for the whole generation; closing the iterator frees it."""
        require_ready()
        _check_length(question)
        state.gate.acquire()
        try:
            state.count("generations_total")
            yield from service.ask_stream(question, k, history)
        finally:
            state.gate.release()

    async def _events(iterator: Iterator[AnswerSentence | Answer]):
        """Pull from a blocking iterator in a worker thread; a client that leaves closes it, which
        stops the model's generation."""
        try:
            while True:
                event = await anyio.to_thread.run_sync(next, iterator, None)
                if event is None:
                    return
                yield event
        finally:
            # Shielded: when the client leaves, this scope is already cancelled, and an unshielded
            # await would be cancelled at once, leaving the model generating and the slot held.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(iterator.close)

    async def _final_answer(first, iterator: Iterator[AnswerSentence | Answer]) -> Answer:
        """Run a generation to its Answer, then close it (freeing the slot) however this ends."""
        try:
            event = first
            while not isinstance(event, Answer):
                event = await anyio.to_thread.run_sync(next, iterator, None)
                if event is None:
                    raise RuntimeError("the generation ended without an answer")
            return event
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_quietly, iterator)

    async def _start(iterator: Iterator[AnswerSentence | Answer]):
        """Run the iterator to its first event so errors (overload, bad input) become HTTP statuses."""
        first = await anyio.to_thread.run_sync(next, iterator, None)
        return first

    def _log_answer(request: Request, answer: Answer) -> None:
        request.state.log = {
            "status_answer": answer.status,
            "prompt_tokens": answer.usage.get("prompt_tokens", 0),
            "completion_tokens": answer.usage.get("completion_tokens", 0),
            "timings_ms": answer.timings_ms,
        }
        state.count("prompt_tokens_total", answer.usage.get("prompt_tokens", 0))
        state.count("completion_tokens_total", answer.usage.get("completion_tokens", 0))

    def _answer_response(request: Request, answer: Answer) -> JSONResponse:
        _log_answer(request, answer)
        payload = _answer_payload(answer)
        if answer.status == "model_unavailable":
            return JSONResponse({"detail": answer.answer, **payload}, status_code=502)
        return JSONResponse(payload)

    @app.post(
        "/v1/ask",
        summary="Answer a question with verified citations",
        response_model=Answer,
        responses={200: {"content": {"text/event-stream": {}}}, 502: {"description": "model unavailable; passages included"}},
    )
    async def ask(request: Request, body: AskRequest):
        iterator = _generate(body.question, body.top_k, [])
        first = await _start(iterator)
        if not body.stream:
            return _answer_response(request, await _final_answer(first, iterator))

        async def events():
            async for event in _prepend(first, _events(iterator)):
                if isinstance(event, Answer):
                    _log_answer(request, event)
                    name = "error" if event.status == "model_unavailable" else "answer"
                    payload = _answer_payload(event)
                    if name == "error":
                        payload = {"detail": event.answer, **payload}
                    yield _sse(name, payload)
                else:  # a sentence that passed the claim check, with its citations
                    yield _sse("delta", {"text": event.text + " ", **event.model_dump(exclude={"text"})})

        return _GenerationStream(events(), iterator)

    @app.post(
        "/v1/chat/completions",
        summary="OpenAI-compatible chat over the documents",
        response_model=ChatResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def chat(request: Request, body: ChatRequest):
        turns = [{"role": m.role, "content": _text(m.content)} for m in body.messages]
        users = [i for i, t in enumerate(turns) if t["role"] == "user" and t["content"].strip()]
        if not users:
            raise InputError("messages must contain a user message with text")
        question = turns[users[-1]]["content"]
        history = turns[: users[-1]]
        iterator = _generate(question, None, history)
        first = await _start(iterator)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        if not body.stream:
            answer = await _final_answer(first, iterator)
            _log_answer(request, answer)
            if answer.status == "model_unavailable":
                return JSONResponse({"detail": answer.answer, **_answer_payload(answer)}, status_code=502)
            return ChatResponse(
                id=completion_id,
                created=created,
                model=answer.model,
                choices=[ChatChoice(message=ChatChoiceMessage(content=answer.answer))],
                usage=_usage(answer),
                citations=answer.citations,
                answerable=answer.answerable,
            )

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": settings.llm_model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            shown = 0
            async for event in _prepend(first, _events(iterator)):
                if isinstance(event, Answer):
                    _log_answer(request, event)
                    tail = _sources_footer(event) if event.answerable else ("\n\n" if shown else "") + event.answer
                    yield chunk({"content": tail})
                    yield chunk(
                        {},
                        "stop",
                        usage=_usage(event),
                        citations=[c.model_dump() for c in event.citations],
                        answerable=event.answerable,
                        status=event.status,
                    )
                else:  # only sentences that passed the claim check reach the client
                    yield chunk({"content": ("" if not shown else " ") + event.text})
                    shown += 1
            yield "data: [DONE]\n\n"

        return _GenerationStream(events(), iterator)

    default_openapi = app.openapi

    def openapi() -> dict:
        """FastAPI documents 422 as `{"detail": [objects]}`; this service sends `{"detail": str}`."""
        if app.openapi_schema is None:
            schema = default_openapi()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {
                    "title": "HTTPValidationError",
                    "type": "object",
                    "required": ["detail"],
                    "properties": {"detail": {"type": "string", "title": "Detail"}},
                }
                schemas.pop("ValidationError", None)
        return app.openapi_schema

    app.openapi = openapi
    return app


class _TooLong(InputError):
    http_status = 413


def _close_quietly(iterator) -> None:
    try:
        iterator.close()
    except ValueError:  # "generator already executing": the thread running it will finish it
        log.warning("a generation could not be closed while it was running")


class _GenerationStream(StreamingResponse):
    """Server-sent events over one generation, which is closed however the response ends.

    Starlette never closes a body iterator that a cancelled response leaves suspended, so
    when a client leaves, this is what stops the model and gives the answer slot back.
    """

    def __init__(self, content, generation: Iterator[AnswerSentence | Answer]):
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._generation = generation

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_quietly, self._generation)


class _Finally:
    """An ASGI response that runs `callback` once the wrapped response is done, however it ends."""

    def __init__(self, response, callback):
        self.response = response
        self.callback = callback

    def __getattr__(self, name):
        return getattr(self.response, name)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.response(scope, receive, send)
        finally:
            self.callback()


async def _prepend(first, rest):
    if first is not None:
        yield first
    async for item in rest:
        yield item


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

