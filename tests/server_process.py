"""Start a real `rag serve` subprocess for integration tests, the browser tests and the load test.

    with running_server(corpus_dir, index_dir) as server:
        httpx.get(f"{server.url}/health")

The index is built first (`python -m rag.cli index CORPUS --index-dir DIR`), then
`python -m rag.cli serve` listens on a free loopback port; the helper waits until
`/health` says ready, yields, and terminates the process (killing it if it hangs).
Server output goes to a log file whose tail is included in any start-up error.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServerStartError(RuntimeError):
    pass


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _env(extra: dict[str, str] | None, index_dir: Path, corpus: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    env["RAG_INDEX_DIR"] = str(index_dir)
    env["RAG_CORPUS"] = str(corpus)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def build_index(corpus: Path, index_dir: Path, env: dict[str, str], timeout_s: float = 600) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index_dir), "--no-progress"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise ServerStartError(f"`rag index {corpus}` failed ({result.returncode}): {result.stderr[-3000:]}")


def _health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def stop(process: subprocess.Popen, grace_s: float = 15) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def running_server(
    corpus: Path,
    index_dir: Path,
    env: dict[str, str | None] | None = None,
    *,
    host: str = "127.0.0.1",
    ready_timeout_s: float = 240,
    build: bool = True,
    log_path: Path | None = None,
    fake_llm: bool = False,
) -> Iterator[ServerProcess]:
    """Index `corpus` into `index_dir` (unless build=False), serve it, yield a ServerProcess.

    `env` adds (or, with value None, removes) environment variables, e.g.
    {"RAG_LLM_MODEL": "...", "RAG_API_KEYS": '["k"]', "RAG_CONFIG": None}. With fake_llm the server
    answers with the fake provider "fake/model" (tests/fake_llm_cli.py) and loads no language model.
    """
    corpus, index_dir = Path(corpus).resolve(), Path(index_dir).resolve()
    full_env = _env(env, index_dir, corpus)
    if build:
        build_index(corpus, index_dir, full_env)
    port = free_port(host)
    url = f"http://{host}:{port}"
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="rag-serve-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    if fake_llm:
        full_env["RAG_LLM_MODEL"] = "fake/model"
    rag = [str(Path(__file__).resolve().parent / "fake_llm_cli.py")] if fake_llm else ["-m", "rag.cli"]
    process = subprocess.Popen(
        [sys.executable, *rag, "serve", "--host", host, "--port", str(port), "--index-dir", str(index_dir)],
        cwd=PROJECT_ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(url=url, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + ready_timeout_s
        last: tuple[int, dict] = (0, {})
        while True:
            if process.poll() is not None:
                raise ServerStartError(f"`rag serve` exited with {process.returncode}:\n{server.log_tail()}")
            last = _health(url)
            if last[0] == 200 and last[1].get("status") == "ready":
                break
            if last[1].get("status") == "not_ready":
                raise ServerStartError(f"server not ready: {last[1].get('detail')}\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"server not ready after {ready_timeout_s:.0f} s (last /health: {last}):\n{server.log_tail()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        stop(process)
        log_file.close()


def serve_in_thread(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the in-process server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@contextlib.contextmanager
def fake_app_served(corpus: Path, index_dir: Path, api_keys: list[str]) -> Iterator[str]:
    """The app served in this process over `corpus`: hashing embedder, fake LLM; yields its URL."""
    from embedding_fakes import HashingEmbedder
    from fakes import install_fake_llm

    from api.app import create_app
    from rag.service import RagService
    from rag.settings import Settings

    fake = install_fake_llm()
    settings = Settings(index_dir=index_dir, corpus=corpus, llm_model="fake/model", api_keys=api_keys)
    service = RagService(settings, embedder=HashingEmbedder())
    service.index([corpus], progress=False)
    service.warm_up(llm=False)
    url, server, thread = serve_in_thread(create_app(settings, service, warm_up=False, load_llm=False))
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        fake.reset()
