"""Serving search under load: the query-embedding cache and the search pool (its own slots and queue)."""

from __future__ import annotations

import contextlib
import threading

import anyio
import numpy as np
import pytest

from api_helpers import NET_INCOME_QUESTION, api_client, built_index, wait_for  # noqa: F401
from api.state import SearchPool
from rag.embedder import Embedder, LRUCache
from rag.errors import OverloadedError

# ---------------------------------------------------------------- LRUCache


def test_cache_hits_and_misses():
    cache = LRUCache(4)
    assert cache.get("a") is None
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3


def test_cache_of_size_zero_holds_nothing():
    cache = LRUCache(0)
    cache.put("a", 1)
    assert len(cache) == 0 and cache.get("a") is None
    with pytest.raises(ValueError):
        LRUCache(-1)


def test_cache_is_thread_safe():
    cache = LRUCache(50)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(3000):
                key = (n * 7 + i) % 120
                cache.put(key, key)
                value = cache.get((key + 1) % 120)
                assert value is None or value == (key + 1) % 120
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(cache) == 50
    assert cache.hits + cache.misses == 8 * 3000


# ---------------------------------------------------------------- Embedder.encode_query


@pytest.fixture
def counting_embedder(monkeypatch) -> Embedder:
    """A real Embedder whose model is replaced by a counter (no torch needed; the torch query path,
    whose encode() the counter replaces: the cache sits in front of either backend)."""
    embedder = Embedder("all-MiniLM-L6-v2", query_cache_size=2, query_backend="torch")
    calls: list[list[str]] = []

    def encode(texts, show_progress=False):
        calls.append(list(texts))
        return np.full((len(texts), 3), float(len(calls)), dtype=np.float32)

    monkeypatch.setattr(embedder, "encode", encode)
    monkeypatch.setattr(embedder, "_torch_threads", lambda n: contextlib.nullcontext())
    embedder.calls = calls
    return embedder


def test_query_vectors_are_cached_by_exact_text(counting_embedder):
    first = counting_embedder.encode_query("net income")
    assert counting_embedder.encode_query("net income") is first
    counting_embedder.encode_query("Net income")  # another text, another vector
    assert counting_embedder.calls == [["net income"], ["Net income"]]
    with pytest.raises(ValueError):
        first[0] = 0  # shared by every caller: read-only


def test_query_cache_is_keyed_by_model(counting_embedder):
    counting_embedder.encode_query("net income")
    counting_embedder.name = "another-model"
    counting_embedder.encode_query("net income")
    assert len(counting_embedder.calls) == 2


def test_query_cache_is_bounded(counting_embedder):
    for text in ("a", "b", "c", "a"):
        counting_embedder.encode_query(text)
    assert len(counting_embedder.query_cache) == 2
    assert [c[0] for c in counting_embedder.calls] == ["a", "b", "c", "a"]


def test_real_query_vector_unchanged_by_cache_and_thread_setting(real_embedder):
    import torch

    before = torch.get_num_threads()
    text = "What was Alibaba's net income in the fourth quarter?"
    vector = real_embedder.encode_query(text)
    assert np.allclose(vector, real_embedder.encode([text])[0], atol=1e-5)
    assert real_embedder.encode_query(text) is vector
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------- SearchPool


def _blocking(release: threading.Event, started: list) -> str:
    started.append(1)
    release.wait(10)
    return "done"


def test_pool_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SearchPool(0, 1, 1.0)
    with pytest.raises(ValueError):
        SearchPool(1, -1, 1.0)


def test_pool_bounds_running_searches_and_queues_the_rest():
    pool = SearchPool(max_concurrent=2, max_queued=10, timeout_s=10)
    release, started, results = threading.Event(), [], []

    async def main():
        async def one():
            results.append(await pool.run(_blocking, release, started))

        async with anyio.create_task_group() as tasks:
            for _ in range(6):
                tasks.start_soon(one)
            with anyio.fail_after(5):
                while not (pool.running == 2 and pool.waiting == 4):
                    await anyio.sleep(0.005)
            assert len(started) == 2
            release.set()

    anyio.run(main)
    assert results == ["done"] * 6
    assert (pool.running, pool.waiting, pool.rejected) == (0, 0, 0)


def test_pool_refuses_when_the_queue_is_full():
    pool = SearchPool(max_concurrent=1, max_queued=1, timeout_s=10)
    release, started = threading.Event(), []

    async def main():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pool.run, _blocking, release, started)
            tasks.start_soon(pool.run, _blocking, release, started)
            with anyio.fail_after(5):
                while not (pool.running == 1 and pool.waiting == 1):
                    await anyio.sleep(0.005)
            with pytest.raises(OverloadedError) as info:
                await pool.run(_blocking, release, started)
            assert info.value.http_status == 503 and info.value.retry_after_s == 1
            release.set()

    anyio.run(main)
    assert pool.rejected == 1 and len(started) == 2


def test_pool_refuses_after_waiting_too_long():
    pool = SearchPool(max_concurrent=1, max_queued=5, timeout_s=0.05)
    release, started = threading.Event(), []

    async def main():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pool.run, _blocking, release, started)
            with anyio.fail_after(5):
                while pool.running != 1:
                    await anyio.sleep(0.005)
            with pytest.raises(OverloadedError, match="within"):
                await pool.run(_blocking, release, started)
            assert pool.waiting == 0
            release.set()

    anyio.run(main)
    assert pool.rejected == 1 and pool.running == 0


def test_search_overload_is_503_with_retry_after_and_counted(built_index):
    with api_client(built_index, max_concurrent_searches=1, max_queued_searches=0) as client:
        state = client.app.state.rag
        real_search, release = state.service.search, threading.Event()

        def slow_search(q, k):
            release.wait(10)
            return real_search(q, k)

        state.service.search = slow_search
        first: list = []
        thread = threading.Thread(target=lambda: first.append(client.get("/v1/search", params={"q": "Meta spending"})))
        thread.start()
        try:
            assert wait_for(lambda: state.searches.running == 1)
            refused = client.get("/v1/search", params={"q": NET_INCOME_QUESTION})
            assert refused.status_code == 503 and "searches" in refused.json()["detail"]
            assert refused.headers["retry-after"] == "1"
        finally:
            release.set()
            thread.join(30)
        assert first[0].status_code == 200 and first[0].json()["passages"]
        assert state.gate.rejected == 0  # the answer slots are apart from the search slots
        assert "rag_searches_rejected_total 1.0" in client.get("/metrics").text
