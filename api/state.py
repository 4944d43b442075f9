"""What one app holds: settings, the service, the answer gate, readiness and metrics."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rag.errors import IndexError_, InputError, RagError
from rag.service import RagService
from rag.settings import Settings
from rag.streaming import GenerationGate

log = logging.getLogger("rag.api")


class QuestionTooLong(InputError):
    http_status = 413


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

    def require_ready(self) -> None:
        if self.status == "not_ready":
            raise IndexError_(self.detail or "the service is not ready")

    def check_length(self, question: str) -> None:
        if len(question) > self.settings.max_question_chars:
            raise QuestionTooLong(f"the question is longer than {self.settings.max_question_chars} characters")


def get_state(request: Request) -> AppState:
    return request.app.state.rag


State = Annotated[AppState, Depends(get_state)]
