"""What one app holds: settings, the service, the answer gate, the search pool, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rag.errors import IndexError_, InputError, OverloadedError, RagError
from rag.search_processes import SearchProcesses
from rag.service import RagService
from rag.settings import Settings
from rag.streaming import GenerationGate
from rag.types import passages_json

log = logging.getLogger("rag.api")
T = TypeVar("T")


class QuestionTooLong(InputError):
    http_status = 413


class SearchPool:
    """Runs searches off the event loop, at most `max_concurrent` at once: in worker processes once
    they have loaded (`processes`, one search each), in threads of this process until then or
    without them. The threads are apart from the answer slots and from anyio's shared pool of 40,
    so that searches neither wait behind answers nor pile 40 deep onto a few cores.

    Up to `max_queued` more wait (on the event loop, first come first served) for up to
    `timeout_s`; beyond either, OverloadedError (503 with Retry-After), as for answers.
    """

    retry_after_s = 1  # a search takes milliseconds: a slot frees soon

    def __init__(self, max_concurrent: int, max_queued: int, timeout_s: float, processes: SearchProcesses | None = None):
        if max_concurrent < 1 or max_queued < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queued >= 0")
        self.processes = processes
        self.max_concurrent = processes.size if processes is not None else max_concurrent
        self.max_queued = max_queued
        self.timeout_s = timeout_s
        self.rejected = 0
        self._slots = anyio.CapacityLimiter(self.max_concurrent)
        self._threads = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="search")

    @property
    def running(self) -> int:
        return self._slots.borrowed_tokens

    @property
    def waiting(self) -> int:
        return self._slots.statistics().tasks_waiting

    async def search_json(self, service: RagService, query: str, k: int) -> bytes:
        """The best k passages for `query`, as JSON made off the event loop."""
        if self.processes is not None and self.processes.ready:
            return await self._bounded(lambda: self.processes.search_json(query, k, "hybrid"))
        return await self.run(lambda: passages_json(service.search(query, k)))

    async def run(self, function: Callable[..., T], *args) -> T:
        """`function(*args)` in one of the pool's threads."""
        return await self._bounded(lambda: asyncio.wrap_future(self._threads.submit(function, *args)))

    async def _bounded(self, start: Callable[[], Awaitable[T]]) -> T:
        if self._slots.available_tokens == 0 and self.waiting >= self.max_queued:
            self.rejected += 1
            raise OverloadedError("too many searches are waiting; retry shortly", self.retry_after_s)
        borrower = object()
        with anyio.move_on_after(self.timeout_s) as wait:
            await self._slots.acquire_on_behalf_of(borrower)
        if wait.cancelled_caught:
            self.rejected += 1
            raise OverloadedError(f"no search slot came free within {self.timeout_s:g} s; retry shortly", self.retry_after_s)
        try:
            # Shielded: a client that leaves must not free the slot while its search still runs.
            with anyio.CancelScope(shield=True):
                return await start()
        finally:
            self._slots.release_on_behalf_of(borrower)

    def close(self) -> None:
        """Stop the worker processes (the threads stay: an app may be started again, as tests do)."""
        if self.processes is not None:
            self.processes.close()


class Metrics:
    """Prometheus metrics in a registry of this app's own, so that several apps in one process
    (as in the tests) never share or clash over counters."""

    def __init__(self, gate: GenerationGate, searches: SearchPool):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_requests", "HTTP requests by route template and status", ["route", "status"], registry=self.registry
        )
        self.generations = Counter("rag_generations", "Answer generations started", registry=self.registry)
        self.prompt_tokens = Counter("rag_prompt_tokens", "Prompt tokens of finished answers", registry=self.registry)
        self.completion_tokens = Counter(
            "rag_completion_tokens", "Completion tokens of finished answers", registry=self.registry
        )
        self.registry.register(_SlotsCollector(
            gate, "rag_generations", "Generations running now", "Requests waiting for a generation",
            "Requests refused with 503 (queue full or wait too long)"))
        self.registry.register(_SlotsCollector(
            searches, "rag_searches", "Searches running now", "Searches waiting for a slot",
            "Searches refused with 503 (queue full or wait too long)"))


class _SlotsCollector(Collector):
    """A bounded pool's own counts (running, waiting, rejected), read when scraped; the answer gate
    and the search pool both keep them."""

    def __init__(self, pool: GenerationGate | SearchPool, prefix: str, running: str, waiting: str, rejected: str):
        self.pool, self.prefix = pool, prefix
        self.help = {"running": running, "waiting": waiting, "rejected": rejected}

    def collect(self):
        yield GaugeMetricFamily(f"{self.prefix}_running", self.help["running"], value=self.pool.running)
        yield GaugeMetricFamily(f"{self.prefix}_waiting", self.help["waiting"], value=self.pool.waiting)
        yield CounterMetricFamily(f"{self.prefix}_rejected", self.help["rejected"], value=self.pool.rejected)


class AppState:
    def __init__(self, settings: Settings, service: RagService):
        self.settings = settings
        self.service = service
        self.status = "loading"
        self.detail: str | None = "loading the index and models"
        self.gate = GenerationGate(
            settings.max_concurrent_generations, settings.max_queued_generations, settings.queue_timeout_s
        )
        processes = None
        if settings.search_processes and settings.single_process_store:
            log.info("searching in threads of the server process: the Milvus Lite file %s opens in one process", settings.vector_store)
        elif settings.search_processes:
            processes = SearchProcesses(settings, settings.search_processes)
        self.searches = SearchPool(
            settings.max_concurrent_searches, settings.max_queued_searches, settings.search_queue_timeout_s, processes
        )
        self.metrics = Metrics(self.gate, self.searches)

    def warm_up(self, llm: bool) -> None:
        try:
            self.service.warm_up(llm=llm)
            self._start_search_processes()
            self.status, self.detail = "ready", None
        except RagError as exc:
            self.status, self.detail = "not_ready", str(exc)
            log.error("not ready: %s", exc)
        except Exception as exc:  # noqa: BLE001 - the server must start and say why it is not ready
            self.status, self.detail = "not_ready", f"start-up failed: {type(exc).__name__}"
            log.exception("start-up failed")

    def _start_search_processes(self) -> None:
        processes = self.searches.processes
        if processes is None:
            return
        try:
            processes.start()
        except RagError as exc:  # searches still run, in this process's threads
            log.error("searching in threads of the server process: %s", exc)

    def require_ready(self) -> None:
        if self.status == "not_ready":
            raise IndexError_(self.detail or "the service is not ready")

    def check_length(self, question: str) -> None:
        if len(question) > self.settings.max_question_chars:
            raise QuestionTooLong(f"the question is longer than {self.settings.max_question_chars} characters")


def get_state(request: Request) -> AppState:
    return request.app.state.rag


async def _state(request: Request) -> AppState:
    # async: FastAPI runs a plain-def dependency in a worker thread, a thread hop per request.
    return get_state(request)


State = Annotated[AppState, Depends(_state)]
