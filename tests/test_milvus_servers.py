"""Two `rag serve` processes answer from one Milvus (`milvus-lite server`, the Milvus protocol over
gRPC) at the same time: a re-index is seen by both, and neither ever sees half a build."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from conftest import write_corpus
from server_process import _env, build_index, free_port, running_server, stop

pytest.importorskip("milvus_lite")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Every file of both corpora mentions zebras, so every search finds some; the names say which build.
OLD = {f"old_{i:02d}.txt": f"Report {i}\nThe zebra herd number {i} grazed by the old river.\n" for i in range(6)}
NEW = {
    f"new_{i:03d}.txt": f"Memo {i}\nA zebra foal, number {i}, was counted near the new dam.\nOther notes {i}.\n"
    for i in range(120)  # a build long enough to be searched while it runs
}


def _milvus_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    milvus_lite = Path(sys.executable).parent / "milvus-lite"
    process = subprocess.Popen(
        [str(milvus_lite), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    stop(process)
    raise AssertionError(f"milvus-lite server did not listen on {port}: {log.read_text()[-2000:]}")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _sources(server_url: str) -> frozenset[str]:
    body = _get(f"{server_url}/v1/search?q=zebra%20number&k=10")
    return frozenset(p["source"] for p in body["passages"])


def test_two_servers_share_one_milvus_and_never_see_half_a_build(tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    old, new = write_corpus(tmp_path / "old", OLD), write_corpus(tmp_path / "new", NEW)
    env = {
        "RAG_VECTOR_STORE": uri, "RAG_MILVUS_COLLECTION": "shared",
        "RAG_SEARCH_PROCESSES": "0", "RAG_API_KEYS": None,
    }
    with ExitStack() as stack:
        milvus = _milvus_server(tmp_path / "milvus-data", port, tmp_path / "milvus.log")
        stack.callback(stop, milvus)
        one = stack.enter_context(running_server(old, tmp_path / "unused-1", env, fake_llm=True))  # builds the old corpus first
        two = stack.enter_context(running_server(old, tmp_path / "unused-2", env, build=False, fake_llm=True))
        old_chunks = _get(f"{one.url}/health")["chunks"]
        for server in (one, two):
            assert _sources(server.url) <= set(OLD) and _sources(server.url)
            assert _get(f"{server.url}/health")["chunks"] == old_chunks

        seen: dict[str, list[frozenset[str]]] = {one.url: [], two.url: []}
        counts: set[int] = set()
        errors: list[str] = []
        building = threading.Event()
        building.set()

        def watch(url: str) -> None:
            while building.is_set():
                try:
                    seen[url].append(_sources(url))
                    counts.add(_get(f"{url}/health")["chunks"])
                except OSError as exc:
                    errors.append(f"{url}: {exc}")

        watchers = [threading.Thread(target=watch, args=(url,)) for url in seen]
        for watcher in watchers:
            watcher.start()
        try:
            build_index(new, tmp_path / "unused-3", _env(env, tmp_path / "unused-3", new))
            time.sleep(1.0)  # the watchers search the new generation too
        finally:
            building.clear()
            for watcher in watchers:
                watcher.join(60)

        assert not errors, errors[:3]
        new_chunks = _get(f"{two.url}/health")["chunks"]
        assert new_chunks > old_chunks
        assert counts <= {old_chunks, new_chunks}, counts
        for url, results in seen.items():
            assert len(results) > 3, f"{url} answered too few searches during the build"
            for sources in results:
                # All passages from one build: the old one's files or the new one's, never a mix.
                assert sources and (sources <= set(OLD) or sources <= set(NEW)), sources
            assert results[0] <= set(OLD), f"{url} was not searched while the build ran"
            assert results[-1] <= set(NEW), f"{url} does not see the re-index"
        for server in (one, two):
            assert _sources(server.url) <= set(NEW)
            lines = _get(f"{server.url}/v1/sources/new_007.txt")
            assert lines["lines"][1] == "A zebra foal, number 7, was counted near the new dam."
