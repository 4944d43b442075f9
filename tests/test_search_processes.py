"""Searches in worker processes (the real embedding model): the same passages as a search in this
process, a rebuilt index is seen, and a worker that is killed is replaced."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from api_helpers import wait_for
from conftest import SEEDS
from rag.service import RagService
from rag.settings import Settings
from server_process import build_index, running_server

pytestmark = pytest.mark.integration

QUESTIONS = ["What was Alibaba's net income in the fourth quarter?", "Meta spending 2025", "380 billion yuan"]


def _search_workers(pid: int) -> list[int]:
    """The server's search worker processes."""
    workers = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"rag.search_processes" in cmdline:
                workers.append(int(child))
    return workers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("search-processes")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(SEEDS, corpus)
    with running_server(corpus, index, {"RAG_SEARCH_PROCESSES": "2"}) as running:
        yield running, corpus, index


def _search(url: str, q: str, k: int = 5) -> list[dict]:
    response = httpx.get(f"{url}/v1/search", params={"q": q, "k": k}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["passages"]


def test_two_workers_answer_as_a_search_in_this_process_does(server, real_embedder):
    running, _, index = server
    assert len(_search_workers(running.pid)) == 2
    here = RagService(Settings(index_dir=index), embedder=real_embedder)
    for q in QUESTIONS:
        expected = [p.model_dump(mode="json") for p in here.search(q, 5)]
        got = _search(running.url, q)
        assert [(p["source"], p["start_line"], p["end_line"], p["text"]) for p in got] == [
            (p["source"], p["start_line"], p["end_line"], p["text"]) for p in expected
        ]
        assert [p["score"] for p in got] == pytest.approx([p["score"] for p in expected], abs=1e-4)


def test_a_worker_errors_as_the_server_would(server):
    running, _, _ = server
    response = httpx.get(f"{running.url}/v1/search", params={"q": "x" * 3000}, timeout=60)
    assert response.status_code == 413 and "characters" in response.json()["detail"]


def test_a_rebuilt_index_is_seen_by_the_workers(server):
    running, corpus, index = server
    (corpus / "zz_new.txt").write_text("Quokkas on Rottnest Island smile for photographers.\n", encoding="utf-8")
    build_index(corpus, index, {**os.environ, "RAG_INDEX_DIR": str(index), "RAG_CORPUS": str(corpus)})
    for _ in range(4):  # every worker, not only the first to answer
        assert _search(running.url, "Quokkas Rottnest Island", k=1)[0]["source"] == "zz_new.txt"


def test_a_killed_worker_is_replaced_and_searches_go_on(server):
    running, _, _ = server
    victim, survivor = _search_workers(running.pid)
    os.kill(victim, signal.SIGKILL)
    statuses = []
    for q in QUESTIONS * 4:
        response = httpx.get(f"{running.url}/v1/search", params={"q": q}, timeout=60)
        statuses.append(response.status_code)
        if response.status_code == 503:  # the one search that reached the dead worker first
            assert response.headers["retry-after"] == "1"
    assert statuses.count(200) >= len(statuses) - 1
    assert wait_for(lambda: len(_search_workers(running.pid)) == 2 and victim not in _search_workers(running.pid), 180, 0.5)
    assert survivor in _search_workers(running.pid)
    assert "search process" in running.log_tail() and "starting another" in running.log_tail()
    assert wait_for(lambda: all(httpx.get(f"{running.url}/v1/search", params={"q": q}, timeout=60).status_code == 200 for q in QUESTIONS), 180, 0.5)
