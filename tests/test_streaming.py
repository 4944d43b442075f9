"""GenerationGate (admission control)."""

from __future__ import annotations

import threading
import time

import pytest

from rag.errors import OverloadedError
from rag.streaming import GenerationGate

# ---------------------------------------------------------------- GenerationGate


def _wait_until(predicate, limit_s: float = 5.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_gate_rejects_bad_arguments():
    with pytest.raises(ValueError):
        GenerationGate(0, 1, 1.0)
    with pytest.raises(ValueError):
        GenerationGate(1, -1, 1.0)


def test_gate_bounds_concurrency_with_threads():
    gate = GenerationGate(max_concurrent=2, max_queued=10, timeout_s=10)
    hold = threading.Event()
    lock = threading.Lock()
    state = {"inside": 0, "max_inside": 0, "done": 0}
    errors: list[BaseException] = []

    def worker():
        try:
            gate.acquire()
            try:
                with lock:
                    state["inside"] += 1
                    state["max_inside"] = max(state["max_inside"], state["inside"])
                hold.wait(10)
                with lock:
                    state["inside"] -= 1
            finally:
                gate.release()
            with lock:
                state["done"] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    assert _wait_until(lambda: gate.running == 2 and gate.waiting == 4)
    assert state["inside"] == 2
    hold.set()
    for t in threads:
        t.join(10)
    assert not errors
    assert state["done"] == 6
    assert state["max_inside"] == 2
    assert gate.running == 0 and gate.waiting == 0 and gate.rejected == 0


def test_gate_queue_overflow_raises_overloaded_with_retry_after():
    gate = GenerationGate(max_concurrent=1, max_queued=1, timeout_s=10)
    gate.acquire()  # the only slot
    waiter_result: list[str] = []

    def waiter():
        gate.acquire()
        waiter_result.append("got slot")
        gate.release()

    t = threading.Thread(target=waiter)
    t.start()
    assert _wait_until(lambda: gate.waiting == 1)
    with pytest.raises(OverloadedError) as info:
        gate.acquire()  # queue is full
    assert info.value.retry_after_s > 0
    assert info.value.http_status == 503
    assert gate.rejected == 1
    gate.release()
    t.join(10)
    assert waiter_result == ["got slot"]
    assert gate.running == 0


def test_gate_with_no_queue_rejects_at_once():
    gate = GenerationGate(max_concurrent=1, max_queued=0, timeout_s=10)
    gate.acquire()
    with pytest.raises(OverloadedError):
        gate.acquire()
    gate.release()


def test_gate_timeout_raises_overloaded():
    gate = GenerationGate(max_concurrent=1, max_queued=5, timeout_s=0.05)
    gate.acquire()
    with pytest.raises(OverloadedError) as info:
        gate.acquire()
    assert info.value.retry_after_s > 0
    assert gate.waiting == 0  # the timed-out caller left the queue
    assert gate.running == 1
    assert gate.rejected == 1
    gate.release()


def test_release_frees_a_slot():
    gate = GenerationGate(max_concurrent=1, max_queued=0, timeout_s=1)
    gate.acquire()
    assert gate.running == 1
    gate.release()
    assert gate.running == 0
    gate.acquire()  # would raise OverloadedError if the slot were still taken
    assert gate.running == 1
    gate.release()
