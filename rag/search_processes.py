"""Searches in processes of their own, so that concurrent searches use every core.

A search mostly holds the GIL, so one process runs one search at a time however many threads it
has: threads alone never let 50 clients search faster than one. Each worker process loads the
index and the embedding model (never the LLM) and answers one search at a time over a pipe. The
event loop reads a reply when its pipe becomes readable, with no thread of its own. A worker sees a
rebuilt index as the server does (it checks CURRENT on every search), and one that dies is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

from rag.errors import OverloadedError, RagError
from rag.settings import Settings
from rag.types import passages_json

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 600  # a cold start imports torch and loads the embedding model


def _error_reply(exc: BaseException) -> tuple[str, tuple[type[RagError], str]]:
    if isinstance(exc, RagError):
        return "error", (type(exc), exc.message)
    log.exception("search failed in a worker process")
    return "error", (RagError, f"search failed: {type(exc).__name__}")


def _rebuilt(error: tuple[type[RagError], str]) -> RagError:
    """The worker's error as the same class with the same message (their constructors differ)."""
    cls, message = error
    exc = cls.__new__(cls)
    RagError.__init__(exc, message)
    return exc


def _serve(conn: Connection) -> None:
    """A worker's life: read its settings, load, say ready, then answer searches until the pipe closes."""
    from rag.service import RagService

    try:
        settings = conn.recv()
        service = RagService(settings)
        service.warm_up(llm=False)
    except Exception as exc:  # noqa: BLE001 - the server is told why, and searches in its own threads
        conn.send(_error_reply(exc))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the server has gone
        if request is None:
            return
        try:
            reply = ("ok", passages_json(service.search(*request)))
        except Exception as exc:  # noqa: BLE001 - every error goes back to the request that caused it
            reply = _error_reply(exc)
        conn.send(reply)


class _Worker:
    def __init__(self, settings: Settings):
        # A plain subprocess over a socket pair, not multiprocessing: no fork of a server holding
        # threads and a model, no re-import of the server's main script, no resource tracker.
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rag.search_processes", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
            )
            self.conn = Connection(os.dup(ours.fileno()))
        self.conn.send(settings)
        self.pending: asyncio.Future | None = None
        self.reading = False
        self.alive = True

    def wait_ready(self) -> None:
        """Block until the worker has loaded (raising its error if it could not)."""
        try:
            if not self.conn.poll(_READY_TIMEOUT_S):
                raise RagError(f"a search process did not load within {_READY_TIMEOUT_S} s")
            kind, detail = self.conn.recv()
        except (EOFError, OSError):
            raise RagError("a search process stopped while loading") from None
        if kind != "ready":
            raise _rebuilt(detail)

    def stop(self) -> None:
        self.alive = False
        try:
            self.conn.send(None)
        except OSError:
            pass
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(2)
        self.conn.close()


class SearchProcesses:
    """`size` worker processes answering `RagService.search(query, k, mode)` in JSON, one search each at a time.

    `start()` blocks until all have loaded (call it off the event loop); `search()` runs on the
    event loop and waits for an idle worker, so callers bound how many wait (the search pool does).
    """

    def __init__(self, settings: Settings, size: int):
        if size < 1:
            raise ValueError("size must be >= 1")
        self.settings = settings
        self.size = size
        self.ready = False
        self._workers: list[_Worker] = []
        self._fresh: list[_Worker] = []  # loaded, not yet handed to the event loop
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        workers = [_Worker(self.settings) for _ in range(self.size)]  # all spawned first: they load in parallel
        self._workers.extend(workers)
        try:
            for worker in workers:
                worker.wait_ready()
        except RagError:
            self.close()
            raise
        self._fresh.extend(workers)
        self.ready = True
        log.info("search processes ready: %s", ", ".join(str(w.process.pid) for w in workers))

    async def search_json(self, query: str, k: int | None, mode: str) -> bytes:
        """The passages as JSON (made in the worker: the server process only passes the bytes on)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        while self._fresh:
            self._idle.put_nowait(self._fresh.pop())
        worker = await self._idle.get()
        while not worker.alive:  # died while idle
            worker = await self._idle.get()
        try:
            future = worker.pending = loop.create_future()
            if not worker.reading:
                loop.add_reader(worker.conn.fileno(), self._on_readable, worker)
                worker.reading = True
            try:
                worker.conn.send((query, k, mode))
            except OSError:
                self._lost(worker)
            kind, payload = await future
        finally:
            if worker.alive:
                self._idle.put_nowait(worker)
        if kind != "ok":
            raise _rebuilt(payload)
        return payload

    def _on_readable(self, worker: _Worker) -> None:
        try:
            reply = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        future, worker.pending = worker.pending, None
        if future is not None and not future.done():
            future.set_result(reply)

    def _lost(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): fail its search, and load a replacement."""
        if worker.pending is not None and not worker.pending.done():
            worker.pending.set_exception(OverloadedError("a search process stopped; retry shortly", retry_after_s=1))
        if not worker.alive:
            return
        worker.alive = False
        if worker.reading:
            self._loop.remove_reader(worker.conn.fileno())
        worker.conn.close()
        if worker in self._workers:
            self._workers.remove(worker)
        if not self._closing:
            threading.Thread(target=self._replace, args=(worker,), daemon=True, name="search-respawn").start()

    def _replace(self, lost: _Worker) -> None:
        try:
            code = lost.process.wait(1)
        except subprocess.TimeoutExpired:
            lost.process.kill()
            code = lost.process.wait()
        if self._closing:  # the whole server is stopping (a terminal's Ctrl-C reaches every process)
            return
        log.error("search process %s stopped (exit code %s); starting another", lost.process.pid, code)
        worker = _Worker(self.settings)
        self._workers.append(worker)
        try:
            worker.wait_ready()
        except RagError as exc:
            log.error("no replacement search process: %s", exc)
            self._workers.remove(worker)
            worker.stop()
            return
        loop = self._loop
        if self._closing or loop is None or loop.is_closed():
            worker.stop()
            return
        loop.call_soon_threadsafe(self._idle.put_nowait, worker)

    def close(self) -> None:
        self._closing = True
        self.ready = False
        for worker in list(self._workers):
            if worker.reading and self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(worker.conn.fileno())
            worker.stop()
        self._workers.clear()


if __name__ == "__main__":  # python -m rag.search_processes FD: one worker, started by _Worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    _serve(Connection(int(sys.argv[1])))
