"""One answer generation per request, run in worker threads, shared by /v1/ask and
/v1/chat/completions: as one JSON answer, or as a stream of server-sent events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse

from api.state import AppState, get_state
from rag.types import Answer, AnswerSentence

log = logging.getLogger("rag.api")

Event = AnswerSentence | Answer


class Generation:
    """The checked sentences and then the Answer of one question, pulled from a blocking iterator
    in worker threads. It holds an answer slot until it is closed; closing stops the model."""

    def __init__(self, request: Request, events: Iterator[Event]):
        self._request = request
        self._events = events
        self._first: Event | None = None

    @classmethod
    async def start(cls, request: Request, question: str, k: int | None, history: list[dict]) -> Generation:
        """Start, and run to the first event, so that errors (not ready, too long, overloaded)
        become HTTP statuses before any response is sent."""
        generation = cls(request, _generate(get_state(request), question, k, history))
        generation._first = await generation._next()
        return generation

    async def answer(self) -> Answer:
        """Run to the Answer, then close however this ends."""
        try:
            event = self._first
            while not isinstance(event, Answer):
                event = await self._next()
                if event is None:
                    raise RuntimeError("the generation ended without an answer")
            self._finished(event)
            return event
        finally:
            await self._close()

    def stream(
        self, frames: Callable[[Event], Iterable[dict]], opening: Iterable[dict] = (), closing: Iterable[dict] = ()
    ) -> EventSourceResponse:
        """The one streaming loop of both streaming routes: `frames` gives each event's SSE frames.

        However the stream ends (finished, failed, or the client left), the generation is closed.
        sse-starlette cancels this loop when the client disconnects, or closes it if it was
        waiting on a send, so the `finally` runs either way.
        """

        async def body():
            try:
                for frame in opening:
                    yield frame
                event = self._first
                while event is not None:
                    if isinstance(event, Answer):
                        self._finished(event)
                    for frame in frames(event):
                        yield frame
                    event = await self._next()
                for frame in closing:
                    yield frame
            finally:
                await self._close()

        # "\n" between lines, not the library's "\r\n": clients that split frames on "\n\n" keep working.
        return EventSourceResponse(body(), sep="\n")

    def _finished(self, answer: Answer) -> None:
        prompt, completion = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
        self._request.state.log = {
            "status_answer": answer.status,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "timings_ms": answer.timings_ms,
        }
        metrics = get_state(self._request).metrics
        metrics.prompt_tokens.inc(prompt)
        metrics.completion_tokens.inc(completion)

    async def _next(self) -> Event | None:
        return await anyio.to_thread.run_sync(next, self._events, None)

    async def _close(self) -> None:
        # Shielded: when the client leaves, this scope is already cancelled, and an unshielded
        # await would be cancelled at once, leaving the model generating and the slot held.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close_quietly, self._events)


def _generate(state: AppState, question: str, k: int | None, history: list[dict]) -> Iterator[Event]:
    """Hold an answer slot for the whole generation; closing the iterator frees it."""
    state.require_ready()
    state.check_length(question)
    state.gate.acquire()
    try:
        state.metrics.generations.inc()
        yield from state.service.ask_stream(question, k, history)
    finally:
        state.gate.release()


def _close_quietly(iterator: Iterator[Event]) -> None:
    try:
        iterator.close()
    except ValueError:  # "generator already executing": the thread running it will finish it
        log.warning("a generation could not be closed while it was running")


def answer_body(answer: Answer) -> dict:
    """The answer object; a model failure's also carries the `detail` every error carries."""
    body = answer.model_dump(mode="json")
    return {"detail": answer.answer, **body} if answer.status == "model_unavailable" else body


def sse_frame(data: dict, event: str | None = None) -> dict:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}
