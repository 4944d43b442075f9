"""Answer latency with the real local model, and the service's overhead over the bare runtime.

    .venv/bin/python evals/bench_answer.py [--limit N] [--golden FILE] [--index-dir DIR]

For each golden question: time to the first checked sentence, total time, the time the claim
check took (rules and judge questions; `timings_ms.check`) and its ratio to the model's own
generation time, prompt and completion tokens, through RagService.ask_stream; then the same
final prompt messages sent straight to the xllamacpp server (temperature 0, same max_tokens,
prompt cache off so both pay for the full prompt), timed. Prints a table and p50s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.settings import Settings  # noqa: E402
from rag.types import Answer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", type=Path, default=ROOT / "evals" / "golden" / "seeds.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--index-dir", type=Path, default=None, help="reuse an index here (built if missing)")
    args = ap.parse_args()

    from rag.llm import local
    from rag.service import RagService

    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="bench-index-"))
    settings = Settings(index_dir=index_dir, corpus=args.corpus)
    svc = RagService(settings)
    if not (index_dir / "CURRENT").exists():
        svc.index([args.corpus], progress=False)
    svc.warm_up(llm=True)
    server = local.server_for_settings(settings)

    captured: list[list[dict]] = []
    llm_stream = svc.llm.stream

    def recording_stream(messages):
        captured.append(messages)
        return llm_stream(messages)

    svc.llm.stream = recording_stream  # the exact messages the service sends

    questions = [json.loads(line) for line in args.golden.read_text().splitlines() if line.strip()][: args.limit]
    rows = []
    for q in questions:
        captured.clear()
        started = time.perf_counter()
        first = None
        answer = None
        for event in svc.ask_stream(q["question"]):
            if isinstance(event, Answer):
                answer = event
            elif first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        row = {
            "id": q["id"], "status": answer.status, "ttft_s": first, "total_s": total,
            "check_s": answer.timings_ms.get("check", 0.0) / 1000,
            # the check runs inside the generation timers (of the first answer and of a second one)
            "generate_s": (answer.timings_ms.get("generate", 0.0) + answer.timings_ms.get("retry", 0.0)
                           - answer.timings_ms.get("check", 0.0)) / 1000,
            "prompt_tokens": answer.usage.get("prompt_tokens"), "completion_tokens": answer.usage.get("completion_tokens"),
            "direct_s": None, "direct_prompt_tokens": None, "direct_completion_tokens": None,
        }
        if captured:
            # the first answer's prompt: a second answer, when there is one, counts as the service's own cost
            payload = {"messages": captured[0], "temperature": 0, "max_tokens": settings.llm_max_tokens,
                       "cache_prompt": False}
            t = time.perf_counter()
            reply = server.handle_chat_completions(payload)
            row["direct_s"] = time.perf_counter() - t
            usage = (reply or {}).get("usage") or {}
            row["direct_prompt_tokens"] = usage.get("prompt_tokens")
            row["direct_completion_tokens"] = usage.get("completion_tokens")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def f(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    header = f"{'id':<10} {'status':<18} {'first_s':>7} {'total_s':>8} {'check_s':>7} {'p_tok':>6} {'c_tok':>6} {'direct_s':>9} {'d_p_tok':>8} {'d_c_tok':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    ratios = []
    for r in rows:
        ratio = r["total_s"] / r["direct_s"] if r["direct_s"] else None
        if ratio is not None:
            ratios.append(ratio)
        print(f"{r['id']:<10} {r['status']:<18} {f(r['ttft_s']):>7} {f(r['total_s']):>8} {f(r['check_s']):>7} {f(r['prompt_tokens'], '{}'):>6} "
              f"{f(r['completion_tokens'], '{}'):>6} {f(r['direct_s']):>9} {f(r['direct_prompt_tokens'], '{}'):>8} "
              f"{f(r['direct_completion_tokens'], '{}'):>8} {f(ratio):>6}")
    totals = [r["total_s"] for r in rows]
    ttfts = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    print(f"\nservice total p50 {statistics.median(totals):.2f} s; first checked sentence p50 "
          f"{statistics.median(ttfts) if ttfts else float('nan'):.2f} s")
    checks = [r["check_s"] for r in rows]
    check_ratios = [r["check_s"] / r["generate_s"] for r in rows if r["generate_s"] > 0]
    print(f"claim check p50 {statistics.median(checks):.2f} s per answer; check / generation p50 "
          f"{statistics.median(check_ratios) if check_ratios else float('nan'):.2f}")
    if ratios:
        print(f"service total / direct runtime: p50 {statistics.median(ratios):.2f} (n={len(ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
