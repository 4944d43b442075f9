"""Shared set-up for the HTTP API tests: one real index per session, apps over it, SSE parsing.

Test modules do `from api_helpers import *` style imports of the fixtures below (pytest
finds fixtures imported into a test module's namespace).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fakes import FakeLLM, install_fake_llm
from rag.settings import PROJECT_ROOT, Settings

SEEDS = PROJECT_ROOT / "seeds"
NET_INCOME_SOURCE = "002_9fd4f84746180eec.txt"
NET_INCOME_QUESTION = "What was Alibaba's net income in the fourth quarter?"
NET_INCOME_ANSWER = f"Net income was ¥48.9 billion ($6.45 billion) [{NET_INCOME_SOURCE}:6]."
ANSWER_KEYS = {"answer", "answerable", "citations", "passages", "model", "timings_ms"}
PASSAGE_KEYS = {"source", "start_line", "end_line", "text", "score"}
CITATION_KEYS = {"source", "start_line", "end_line", "quote", "verified"}


@dataclass
class BuiltIndex:
    corpus: Path  # a copy of seeds/ that was indexed (tests may add files to it afterwards)
    index_dir: Path
    embedder: object  # the real Embedder, shared by every service in the session


@pytest.fixture(scope="session")
def built_index(tmp_path_factory) -> BuiltIndex:
    """ONE real index over (a copy of) seeds/, built once per session with the real embedder."""
    from rag.service import RagService

    root = tmp_path_factory.mktemp("api-index")
    corpus = root / "corpus"
    shutil.copytree(SEEDS, corpus)
    index_dir = root / "index"
    settings = Settings(index_dir=index_dir, corpus=corpus, llm_model="fake/model")
    service = RagService(settings)
    service.index([corpus], progress=False)
    return BuiltIndex(corpus=corpus, index_dir=index_dir, embedder=service.embedder)


@pytest.fixture(scope="session")
def built_milvus_store(built_index, tmp_path_factory) -> str:
    """The session corpus indexed once more, into Milvus Lite (a file): the RAG_VECTOR_STORE value."""
    from rag.service import RagService

    uri = str(tmp_path_factory.mktemp("api-milvus") / "milvus.db")
    settings = Settings(index_dir=built_index.index_dir, corpus=built_index.corpus, llm_model="fake/model", vector_store=uri)
    RagService(settings, embedder=built_index.embedder).index([built_index.corpus], progress=False)
    return uri


@pytest.fixture
def fake() -> FakeLLM:
    """The fake litellm provider "fake/model", cleared for this test."""
    fake = install_fake_llm()
    yield fake
    fake.reset()


def make_settings(index_dir: Path, corpus: Path | None = None, **overrides) -> Settings:
    values = dict(
        index_dir=index_dir,
        llm_model="fake/model",
        llm_retry_backoff_s=0.01,
        queue_timeout_s=5,
    )
    if corpus is not None:
        values["corpus"] = corpus
    values.update(overrides)
    return Settings(**values)


def make_app(built: BuiltIndex, index_dir: Path | None = None, **overrides):
    from api.app import create_app
    from rag.service import RagService

    settings = make_settings(index_dir or built.index_dir, built.corpus, **overrides)
    service = RagService(settings, embedder=built.embedder)
    return create_app(settings, service, warm_up=True, load_llm=False)


def wait_until_started(client: TestClient, timeout_s: float = 60.0) -> dict:
    """Poll /health until the warm-up finished (ready or not_ready); return its body."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get("/health").json()
        if body["status"] != "loading" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@contextmanager
def api_client(built: BuiltIndex, index_dir: Path | None = None, expect_ready: bool = True, **overrides) -> Iterator[TestClient]:
    """A TestClient (lifespan running) over an app on the session index; waits for start-up."""
    app = make_app(built, index_dir, **overrides)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = wait_until_started(client)
        if expect_ready:
            assert body["status"] == "ready", body
        yield client


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """[(event name or None, data)] for each frame of a server-sent event stream (comments, such
    as keep-alive pings, skipped)."""
    frames = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[len("event:"):].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:"):].lstrip(" "))
        if event is not None or data:
            frames.append((event, "\n".join(data)))
    return frames


def sse_json(text: str) -> list[tuple[str | None, object]]:
    return [(event, data if data == "[DONE]" else json.loads(data)) for event, data in parse_sse(text)]


def file_lines(corpus: Path, source: str) -> list[str]:
    """The lines of a corpus file as the index stores them (split on newlines, no terminators)."""
    from rag.loaders import split_lines

    return split_lines((corpus / source).read_bytes().decode("utf-8"))


def wait_for(predicate, timeout_s: float = 10.0, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


class Background(threading.Thread):
    """Run a callable in a thread; keep its result or exception."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self._target_fn, self._args = target, args
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn(*self._args)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc


def raw_request(app, method: str, raw_path: str, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict, bytes]:
    """Send one request straight to the ASGI app with `raw_path` untouched (no client-side
    normalisation of `..` segments, which httpx would do). Returns (status, headers, body)."""
    import asyncio
    from urllib.parse import unquote

    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    result: dict = {"status": None, "headers": {}, "body": b""}

    async def run() -> None:
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            if message["type"] == "http.response.start":
                result["status"] = message["status"]
                result["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                result["body"] += message.get("body", b"")

        await app(scope, receive, send)

    asyncio.run(run())
    return result["status"], result["headers"], result["body"]
