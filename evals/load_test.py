"""Load test a real `rag serve` on loopback (a script, not a test; bounded in time).

    .venv/bin/python evals/load_test.py [--search-seconds 30] [--ask-per-client 2] [--burst-asks 200] [--json OUT]

Starts the server (index built into a temporary folder from --corpus [seeds/]) with the
server's own defaults (max_concurrent_generations=2, max_queued_generations=8; the test
profile RAG_CONFIG is dropped), then runs:

  a0) one client on GET /v1/search for --single-seconds [5]: the single-client rate (1 / its p50);
  a) --search-clients [50] concurrent clients on GET /v1/search for --search-seconds [30],
     checked against the serving targets: no errors, throughput at least 1.5 x the single-client
     rate, p95 at most 2 x p50 (both phases ask the same questions, so both see a warm query cache);
  b) --ask-clients [4] concurrent clients on POST /v1/ask (real local model), each asking
     --ask-per-client [2] questions, no new question after --ask-seconds [120];
  c) during b, one client searching every --during-interval [1] s: search latency while
     answers are generating;
  d) a burst of --burst-asks [200] POST /v1/ask sent at once: each must be answered or refused
     with 503 and a Retry-After header (the queue holds 8; nothing else is acceptable).

Per phase it prints requests, errors by status (503 "busy, retry later" counted apart from
other errors), p50/p95/p99 latency, throughput, and the server's peak RSS (VmHWM from
/proc/<pid>/status, plus the highest VmRSS polled during the phase), its search worker
processes included (summed, so shared pages count once per process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from server_process import running_server  # noqa: E402

SEARCH_QUESTIONS = [
    "What was Alibaba's net income in the fourth quarter?",
    "How much will Alibaba invest in AI infrastructure?",
    "Alibaba revenue growth",
    "Qwen model benchmark performance",
    "Who is the CEO of Alibaba?",
    "cloud computing data centers",
    "US sanctions on Nvidia chips",
    "Apple iPhones in China AI partner",
    "How many years does the investment plan cover?",
    "stock price gain in 2025",
    "artificial general intelligence objective",
    "Moonshot and Zhipu startups",
    "380 billion yuan",
    "What did Microsoft plan to spend on AI data centres?",
    "Meta spending 2025",
    "regulatory scrutiny in China",
]
ASK_QUESTIONS = [
    "What was Alibaba's net income in the fourth quarter?",
    "How much will Alibaba invest in AI infrastructure over three years?",
    "By how much did Alibaba's revenue rise in the fourth quarter?",
    "Who is Alibaba's CEO?",
    "How much is Microsoft allocating to AI data centres this fiscal year?",
    "Which startups has Alibaba invested in?",
    "How much has Alibaba's stock gained in US markets since the start of 2025?",
    "What is the capital of Australia?",
]


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0
    peak_rss_kb: int = 0
    hwm_kb: int = 0
    notes: Counter = field(default_factory=Counter)

    def record(self, status: str, ms: float) -> None:
        self.statuses[status] += 1
        if status == "200":
            self.latencies_ms.append(ms)

    def summary(self) -> dict:
        total = sum(self.statuses.values())
        seconds = max(self.ended - self.started, 1e-9)
        ok = self.statuses.get("200", 0)
        errors = {k: v for k, v in self.statuses.items() if k not in ("200", "503")}
        return {
            "phase": self.name,
            "requests": total,
            "ok": ok,
            "busy_503": self.statuses.get("503", 0),
            "errors": errors,
            "latency_ms": {
                "p50": _pct(self.latencies_ms, 50),
                "p95": _pct(self.latencies_ms, 95),
                "p99": _pct(self.latencies_ms, 99),
                "max": round(max(self.latencies_ms), 1) if self.latencies_ms else None,
            },
            "seconds": round(seconds, 1),
            "throughput_rps": round(total / seconds, 2),
            "ok_rps": round(ok / seconds, 2),
            "server_peak_rss_mb_during_phase": round(self.peak_rss_kb / 1024, 1),
            "server_vmhwm_mb_at_end": round(self.hwm_kb / 1024, 1),
            **({"answers": dict(self.notes)} if self.notes else {}),
        }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 1)


def _tree_kb(pid: int, key: str) -> int:
    """`key` of the process and of its children (the search worker processes), summed."""
    children = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    return _proc_kb(pid, key) + sum(_proc_kb(c, key) for c in children)


def _proc_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


async def _watch_rss(pid: int, phase: Phase, stop: asyncio.Event) -> None:
    while not stop.is_set():
        phase.peak_rss_kb = max(phase.peak_rss_kb, _tree_kb(pid, "VmRSS"))
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
    phase.peak_rss_kb = max(phase.peak_rss_kb, _tree_kb(pid, "VmRSS"))
    phase.hwm_kb = _tree_kb(pid, "VmHWM")


async def _timed(session: aiohttp.ClientSession, phase: Phase, method: str, url: str, **kw) -> dict | None:
    """One request, timed and recorded by status; the JSON body of a 200, else None."""
    t0 = time.perf_counter()
    try:
        async with session.request(method, url, **kw) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        phase.record(f"exception:{type(exc).__name__}", (time.perf_counter() - t0) * 1000)
        return None
    phase.record(str(status), (time.perf_counter() - t0) * 1000)
    return json.loads(body) if status == 200 else None


def _session(url: str, connections: int, timeout_s: float) -> aiohttp.ClientSession:
    # aiohttp, not httpx: one process must drive 50 clients without becoming the bottleneck
    # (httpx's client took a whole core at about 190 requests/s here, more than the server).
    return aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=10),
    )


async def search_phase(url: str, pid: int, clients: int, seconds: float, name: str = "a) search") -> Phase:
    phase = Phase(name)
    async with _session(url, clients, 60) as session:
        async with session.get("/v1/search", params={"q": "warm up", "k": 5}) as response:
            await response.read()
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_rss(pid, phase, stop))
        phase.started = time.perf_counter()
        deadline = phase.started + seconds

        async def worker(i: int) -> None:
            n = i
            while time.perf_counter() < deadline:
                q = SEARCH_QUESTIONS[n % len(SEARCH_QUESTIONS)]
                await _timed(session, phase, "GET", "/v1/search", params={"q": q, "k": 5})
                n += clients

        await asyncio.gather(*(worker(i) for i in range(clients)))
        phase.ended = time.perf_counter()
        stop.set()
        await watcher
    return phase


async def ask_phase(
    url: str, pid: int, clients: int, per_client: int, seconds: float, during_interval: float
) -> tuple[Phase, Phase]:
    asks, during = Phase("b) ask"), Phase("c) search during b")
    async with _session(url, clients + 2, 600) as session:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_rss(pid, asks, stop))
        asks.started = during.started = time.perf_counter()
        deadline = asks.started + seconds

        async def asker(i: int) -> None:
            for j in range(per_client):
                if time.perf_counter() >= deadline:
                    return
                q = ASK_QUESTIONS[(i + j * clients) % len(ASK_QUESTIONS)]
                answer = await _timed(session, asks, "POST", "/v1/ask", json={"question": q})
                if answer is not None:
                    asks.notes[answer.get("status", "?")] += 1

        async def searcher() -> None:
            n = 0
            while not stop.is_set():
                q = SEARCH_QUESTIONS[n % len(SEARCH_QUESTIONS)]
                await _timed(session, during, "GET", "/v1/search", params={"q": q, "k": 5})
                n += 1
                try:
                    await asyncio.wait_for(stop.wait(), during_interval)
                except asyncio.TimeoutError:
                    pass

        search_task = asyncio.create_task(searcher())
        await asyncio.gather(*(asker(i) for i in range(clients)))
        asks.ended = during.ended = time.perf_counter()
        stop.set()
        await asyncio.gather(watcher, search_task)
        during.hwm_kb, during.peak_rss_kb = asks.hwm_kb, asks.peak_rss_kb
        async with session.get("/metrics") as response:
            metrics = await response.text()
    rejected = [line for line in metrics.splitlines() if line.startswith("rag_generations_rejected_total")]
    if rejected:
        asks.notes["server_rejected_total"] = int(float(rejected[0].split()[-1]))  # exposed as "1.0"
    return asks, during


async def burst_phase(url: str, pid: int, asks: int) -> Phase:
    phase = Phase("d) ask burst")
    async with _session(url, asks, 900) as session:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_rss(pid, phase, stop))
        phase.started = time.perf_counter()

        async def ask(i: int) -> None:
            t0 = time.perf_counter()
            question = ASK_QUESTIONS[i % len(ASK_QUESTIONS)]
            try:
                async with session.post("/v1/ask", json={"question": question}) as response:
                    body = await response.read()
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                phase.record(f"exception:{type(exc).__name__}", (time.perf_counter() - t0) * 1000)
                return
            if status == 503 and not retry_after:
                status = "503 without Retry-After"
            phase.record(str(status), (time.perf_counter() - t0) * 1000)
            if status == 200:
                phase.notes[json.loads(body).get("status", "?")] += 1

        await asyncio.gather(*(ask(i) for i in range(asks)))
        phase.ended = time.perf_counter()
        stop.set()
        await watcher
    return phase


def _print(summary: dict) -> None:
    lat = summary["latency_ms"]
    print(f"\n== {summary['phase']}")
    print(f"  requests {summary['requests']}  ok {summary['ok']}  503 busy {summary['busy_503']}  "
          f"other errors {summary['errors'] or 'none'}")
    print(f"  latency ms (ok requests): p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}")
    print(f"  {summary['seconds']} s, throughput {summary['throughput_rps']} req/s ({summary['ok_rps']} ok/s)")
    print(f"  server RSS: peak polled {summary['server_peak_rss_mb_during_phase']} MB, "
          f"VmHWM {summary['server_vmhwm_mb_at_end']} MB")
    if "answers" in summary:
        print(f"  answers: {summary['answers']}")


def search_targets(single: dict, many: dict) -> dict:
    """The serving targets for concurrent search, against the single-client rate of the same run."""
    single_rate = 1000 / single["latency_ms"]["p50"]
    p50, p95 = many["latency_ms"]["p50"], many["latency_ms"]["p95"]
    checks = {
        "no_errors": not many["errors"] and many["busy_503"] == 0,
        "throughput_at_least_1.5x_single": many["ok_rps"] >= 1.5 * single_rate,
        "p95_at_most_2x_p50": p95 is not None and p95 <= 2 * p50,
    }
    return {
        "phase": "targets",
        "single_client_rate_rps": round(single_rate, 1),
        "throughput_ratio": round(many["ok_rps"] / single_rate, 2),
        "p95_over_p50": round(p95 / p50, 2) if p95 else None,
        **checks,
        "met": all(checks.values()),
    }


async def run(args: argparse.Namespace, url: str, pid: int) -> list[dict]:
    results = []
    if args.search_seconds > 0:
        single = None
        if args.single_seconds > 0:
            single = (await search_phase(url, pid, 1, args.single_seconds, "a0) search, one client")).summary()
            _print(single)
            results.append(single)
        summary = (await search_phase(url, pid, args.search_clients, args.search_seconds)).summary()
        _print(summary)
        results.append(summary)
        if single is not None and single["latency_ms"]["p50"] and summary["latency_ms"]["p50"]:
            targets = search_targets(single, summary)
            print(f"  targets: {targets}")
            results.append(targets)
    if args.ask_per_client > 0:
        asks, during = await ask_phase(
            url, pid, args.ask_clients, args.ask_per_client, args.ask_seconds, args.during_interval
        )
        for phase in (asks, during):
            summary = phase.summary()
            _print(summary)
            results.append(summary)
    if args.burst_asks > 0:
        summary = (await burst_phase(url, pid, args.burst_asks)).summary()
        summary["met"] = not summary["errors"] and summary["ok"] + summary["busy_503"] == args.burst_asks
        _print(summary)
        print(f"  every ask answered or 503 with Retry-After: {summary['met']}")
        results.append(summary)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    parser.add_argument("--index-dir", type=Path, help="[a temporary folder]")
    parser.add_argument("--single-seconds", type=float, default=5, help="one-client search phase (0: skip)")
    parser.add_argument("--search-clients", type=int, default=50)
    parser.add_argument("--search-seconds", type=float, default=30)
    parser.add_argument("--ask-clients", type=int, default=4)
    parser.add_argument("--ask-per-client", type=int, default=2)
    parser.add_argument("--ask-seconds", type=float, default=120, help="no new question after this")
    parser.add_argument("--during-interval", type=float, default=1.0)
    parser.add_argument("--burst-asks", type=int, default=200, help="asks sent at once (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        env = {"RAG_CONFIG": None, "RAG_API_KEYS": None, "RAG_MAX_CONCURRENT_GENERATIONS": None,
               "RAG_MAX_QUEUED_GENERATIONS": None}
        started = time.perf_counter()
        with running_server(args.corpus, index_dir, env, log_path=Path(tmp) / "serve.log") as server:
            print(f"server {server.url} pid {server.pid} ready after {time.perf_counter() - started:.1f} s "
                  f"(index + start-up); RSS {_tree_kb(server.pid, 'VmRSS') / 1024:.0f} MB, "
                  f"cpus {os.cpu_count()}")
            results = asyncio.run(run(args, server.url, server.pid))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
