"""Admission control for generations: how many run at once, how many may wait."""

from __future__ import annotations

import threading
import time

from rag.errors import OverloadedError

class GenerationGate:
    """Bounds generations running at once and requests waiting for one.

    Beyond `max_queued` waiting requests, or after `timeout_s` in the queue,
    callers get OverloadedError (HTTP 503 with Retry-After) instead of piling up.
    """

    def __init__(self, max_concurrent: int, max_queued: int, timeout_s: float):
        if max_concurrent < 1 or max_queued < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queued >= 0")
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.timeout_s = timeout_s
        self.running = 0
        self.waiting = 0
        self.rejected = 0

    def acquire(self) -> None:
        with self._lock:
            if self._slots.acquire(blocking=False):
                self.running += 1
                return
            if self.waiting >= self.max_queued:
                self.rejected += 1
                raise OverloadedError("the service is busy answering other questions; retry shortly", self._retry_after())
            self.waiting += 1
        started = time.monotonic()
        acquired = self._slots.acquire(timeout=self.timeout_s)
        with self._lock:
            self.waiting -= 1
            if not acquired:
                self.rejected += 1
                raise OverloadedError(
                    f"no answer slot came free within {time.monotonic() - started:.0f} s; retry shortly",
                    self._retry_after(),
                )
            self.running += 1

    def release(self) -> None:
        with self._lock:
            self.running -= 1
        self._slots.release()

    def _retry_after(self) -> int:
        return 5 + 5 * (self.waiting // max(1, self.max_concurrent))
