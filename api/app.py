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
from collections.abc import Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sse_starlette import EventSourceResponse
from starlette.datastructures import Headers

from api.docs import add_docs
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
from rag.errors import IndexError_, InputError, OverloadedError, RagError
from rag.service import RagService
from rag.settings import Settings
from rag.streaming import GenerationGate
from rag.text import citation_label
from rag.types import Answer, AnswerSentence

log = logging.getLogger("rag.api")
STATIC = Path(__file__).parent / "static"
# The page loads only its own script and stylesheet and talks only to this origin; its favicon is
# an empty data: URL.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

Event = AnswerSentence | Answer


class Metrics:
    """Prometheus metrics in a registry of this app's own, so that several apps in one process
    (as in the tests) never share or clash over counters."""

    def __init__(self, gate: GenerationGate):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_requests", "HTTP requests by route template and status", ["route", "status"], registry=self.registry
        )
        self.generations = Counter("rag_generations", "Answer generations started", registry=self.registry)
        self.prompt_tokens = Counter("rag_prompt_tokens", "Prompt tokens of finished answers", registry=self.registry)
        self.completion_tokens = Counter(
            "rag_completion_tokens", "Completion tokens of finished answers", registry=self.registry
        )
        self.registry.register(_GateCollector(gate))


class _GateCollector(Collector):
    """The answer gate's own counts, read when scraped."""

    def __init__(self, gate: GenerationGate):
        self.gate = gate

    def collect(self):
        yield GaugeMetricFamily("rag_generations_running", "Generations running now", value=self.gate.running)
        yield GaugeMetricFamily("rag_generations_waiting", "Requests waiting for a generation", value=self.gate.waiting)
        yield CounterMetricFamily(
            "rag_generations_rejected", "Requests refused with 503 (queue full or wait too long)", value=self.gate.rejected
        )


class AppState:
    def __init__(self, settings: Settings, service: RagService):
        self.settings = settings
        self.service = service
        self.status = "loading"
        self.detail: str | None = "loading the index and models"
        self.gate = GenerationGate(
            settings.max_concurrent_generations, settings.max_queued_generations, settings.queue_timeout_s
        )
        self.metrics = Metrics(self.gate)

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


class RequestLog:
    """ASGI middleware: one structured log line and one request count per request, once its
    response has ended (a stream's answer and token counts are known only then)."""

    def __init__(self, app, state: AppState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_recording_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            template = _route_template(scope)
            # A label is a route template, never the raw path: paths are unbounded, labels must not be.
            self.state.metrics.requests.labels(template or "unmatched", str(status)).inc()
            record = {
                "method": scope["method"],
                "route": template or scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                **scope.get("state", {}).get("log", {}),
            }
            log.info(json.dumps(record))


def _route_template(scope) -> str | None:
    """The template of the route that answered ("/v1/sources/{source:path}"), or None if none did."""
    route = scope.get("route")
    if route is not None:
        return route.path
    # FastAPI leaves no route in the scope for a mount (the static files), only its prefix in root_path.
    app_root = scope.get("app_root_path", scope.get("root_path", ""))
    mount = scope.get("root_path", "")[len(app_root):]
    return f"{mount}/{{path}}" if mount else None


class BodyLimit:
    """ASGI middleware: a request body larger than `max_bytes` is refused (413) while it is read,
    chunked bodies included, so no body is buffered whole first.

    The refusal is raised from `receive`, inside the route reading the body, so it is answered by
    the app's error handlers like any error. (FastAPI's own `max_body_size` answers a declared
    Content-Length over the limit in plain text, never as `{"detail": ...}`.)
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0

        def too_large() -> HTTPException:
            return HTTPException(413, f"request body is larger than {self.max_bytes} bytes")

        async def limited_receive():
            nonlocal received
            # uvicorn refuses a malformed Content-Length itself; other servers and test clients pass it on.
            if declared is not None and not declared.isdigit():
                raise HTTPException(400, "invalid Content-Length")
            if declared is not None and int(declared) > self.max_bytes:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large()
            return message

        await self.app(scope, limited_receive, send)


class _PageStaticFiles(StaticFiles):
    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _error(status: int, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _answer_payload(answer: Answer) -> dict:
    return answer.model_dump(mode="json")


def _api_key_check(keys: list[str]):
    bearer = HTTPBearer(auto_error=False, description="One of the server's API keys (`RAG_API_KEYS`).")

    def require_api_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        token = credentials.credentials if credentials else ""
        # Compare with every key in constant time so timing reveals nothing.
        if not any([hmac.compare_digest(token.encode(), key.encode()) for key in keys]):
            raise HTTPException(
                401, "missing or invalid API key: send `Authorization: Bearer <key>`", {"WWW-Authenticate": "Bearer"}
            )

    return require_api_key


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
        # Served by api/docs.py instead: offline, and behind the API key.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.rag = state
    # Every route but the page, its static files and /health needs a key when keys are set.
    keyed = [Depends(_api_key_check(settings.api_keys))] if settings.api_keys else []

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog, state=state)
    if settings.cors_origins:
        # Added last so it wraps everything: preflights (which carry no API key) are answered
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
            raise IndexError_(state.detail or "the service is not ready")

    # Routes -----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    add_docs(app, keyed)
    app.mount("/static", _PageStaticFiles(directory=STATIC), name="static")

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

    @app.get("/metrics", include_in_schema=False, dependencies=keyed)
    def metrics():
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/search", response_model=SearchResponse, summary="The best passages for a question", dependencies=keyed)
    def search(
        request: Request,
        q: str = Query(min_length=1, description="The question or keywords.", examples=["Alibaba net income"]),
        k: int = Query(5, ge=1, le=50, description="Number of passages."),
    ):
        require_ready()
        _check_length(q)
        passages = service.search(q, k)
        return SearchResponse(passages=passages)

    @app.get(
        "/v1/sources/{source:path}", response_model=SourceLines, summary="Lines of an indexed source", dependencies=keyed
    )
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

    def _generate(question: str, k: int | None, history: list[dict]) -> Iterator[Event]:
        """Hold an answer slot for the whole generation; closing the iterator frees it."""
        require_ready()
        _check_length(question)
        state.gate.acquire()
        try:
            state.metrics.generations.inc()
            yield from service.ask_stream(question, k, history)
        finally:
            state.gate.release()

    async def _start(question: str, k: int | None, history: list[dict]) -> tuple[Generation, Event | None]:
        """Run a generation to its first event so errors (overload, bad input) become HTTP statuses."""
        generation = Generation(_generate(question, k, history))
        return generation, await generation.next()

    def _log_answer(request: Request, answer: Answer) -> None:
        request.state.log = {
            "status_answer": answer.status,
            "prompt_tokens": answer.usage.get("prompt_tokens", 0),
            "completion_tokens": answer.usage.get("completion_tokens", 0),
            "timings_ms": answer.timings_ms,
        }
        state.metrics.prompt_tokens.inc(answer.usage.get("prompt_tokens", 0))
        state.metrics.completion_tokens.inc(answer.usage.get("completion_tokens", 0))

    def _event_stream(
        request: Request,
        generation: Generation,
        first: Event | None,
        frames: Callable[[Event], Iterable[dict]],
        opening: Iterable[dict] = (),
        closing: Iterable[dict] = (),
    ) -> EventSourceResponse:
        """The one streaming loop of both streaming routes: `frames` turns each event into SSE frames.

        However the stream ends (finished, failed, or the client left), the generation is closed:
        that stops the model and gives the answer slot back.
        """

        async def body():
            try:
                for frame in opening:
                    yield frame
                event = first
                while event is not None:
                    if isinstance(event, Answer):
                        _log_answer(request, event)
                    for frame in frames(event):
                        yield frame
                    event = await generation.next()
                for frame in closing:
                    yield frame
            finally:
                await generation.close()

        # "\n" between lines as before, not the library's "\r\n": clients that split on "\n\n" keep working.
        return EventSourceResponse(body(), sep="\n")

    @app.post(
        "/v1/ask",
        summary="Answer a question with verified citations",
        response_model=Answer,
        responses={200: {"content": {"text/event-stream": {}}}, 502: {"description": "model unavailable; passages included"}},
        dependencies=keyed,
    )
    async def ask(request: Request, body: AskRequest):
        generation, first = await _start(body.question, body.top_k, [])
        if not body.stream:
            answer = await generation.answer(first)
            _log_answer(request, answer)
            payload = _answer_payload(answer)
            if answer.status == "model_unavailable":
                return JSONResponse({"detail": answer.answer, **payload}, status_code=502)
            return JSONResponse(payload)

        def frames(event: Event) -> list[dict]:
            if isinstance(event, Answer):
                payload = _answer_payload(event)
                if event.status == "model_unavailable":
                    return [_frame({"detail": event.answer, **payload}, "error")]
                return [_frame(payload, "answer")]
            # a sentence that passed the claim check, with its citations
            return [_frame({"text": event.text + " ", **event.model_dump(exclude={"text"})}, "delta")]

        return _event_stream(request, generation, first, frames)

    @app.post(
        "/v1/chat/completions",
        summary="OpenAI-compatible chat over the documents",
        response_model=ChatResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        dependencies=keyed,
    )
    async def chat(request: Request, body: ChatRequest):
        turns = [{"role": m.role, "content": _text(m.content)} for m in body.messages]
        users = [i for i, t in enumerate(turns) if t["role"] == "user" and t["content"].strip()]
        if not users:
            raise InputError("messages must contain a user message with text")
        question = turns[users[-1]]["content"]
        history = turns[: users[-1]]
        generation, first = await _start(question, None, history)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        if not body.stream:
            answer = await generation.answer(first)
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

        def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
            return _frame(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": settings.llm_model,
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

        opening = [chunk({"role": "assistant", "content": ""})]
        return _event_stream(request, generation, first, frames, opening, closing=[{"data": "[DONE]"}])

    return app


class _TooLong(InputError):
    http_status = 413


class Generation:
    """One answer generation: a blocking iterator pulled in worker threads. It holds an answer
    slot until it is closed."""

    def __init__(self, events: Iterator[Event]):
        self._events = events

    async def next(self) -> Event | None:
        return await anyio.to_thread.run_sync(next, self._events, None)

    async def answer(self, first: Event | None) -> Answer:
        """Run to the Answer, then close (freeing the slot) however this ends."""
        try:
            event = first
            while not isinstance(event, Answer):
                event = await self.next()
                if event is None:
                    raise RuntimeError("the generation ended without an answer")
            return event
        finally:
            await self.close()

    async def close(self) -> None:
        # Shielded: when the client leaves, this scope is already cancelled, and an unshielded
        # await would be cancelled at once, leaving the model generating and the slot held.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close_quietly, self._events)


def _close_quietly(iterator) -> None:
    try:
        iterator.close()
    except ValueError:  # "generator already executing": the thread running it will finish it
        log.warning("a generation could not be closed while it was running")


def _frame(data: dict, event: str | None = None) -> dict:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


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
