"""Answer latency of this checkout against a baseline commit, as a ratio measured in one run.

    .venv/bin/python evals/latency_ratio.py --baseline ec68001 [--limit N] [--golden FILE]

The baseline commit is checked out into a temporary git worktree. Each checkout answers in its own
worker process (its own code, prompts, index and local model), and the two are asked the same
questions in turn, one question at a time, so both run under the same machine load. Prints each
question's two latencies, both p50s and their ratio (this checkout / baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside each checkout: answers one question per line of stdin, one JSON line per answer.
_WORKER = """
import json, sys, time
from pathlib import Path
from rag.service import RagService
from rag.settings import Settings
index_dir, corpus = Path(sys.argv[1]), Path(sys.argv[2])
svc = RagService(Settings(index_dir=index_dir, corpus=corpus))
if not (index_dir / "CURRENT").exists():
    svc.index([corpus], progress=False)
svc.warm_up(llm=True)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    started = time.perf_counter()
    answer = svc.ask(json.loads(line)["question"])
    print(json.dumps({"latency_ms": (time.perf_counter() - started) * 1000, "status": answer.status}), flush=True)
"""


class Worker:
    def __init__(self, checkout: Path, index_dir: Path, corpus: Path):
        env = dict(os.environ, PYTHONPATH=str(checkout), LITELLM_LOCAL_MODEL_COST_MAP="True")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(index_dir), str(corpus)], cwd=checkout, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self._read()  # ready

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"a worker stopped (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, question: str) -> dict:
        self.process.stdin.write(json.dumps({"question": question}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="a commit of this repository")
    ap.add_argument("--golden", type=Path, default=ROOT / "evals" / "golden" / "seeds.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--limit", type=int, default=12)
    args = ap.parse_args()

    questions = [json.loads(line) for line in args.golden.read_text().splitlines() if line.strip()][: args.limit]
    work = Path(tempfile.mkdtemp(prefix="latency-ratio-"))
    baseline = work / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                   check=True, capture_output=True)
    try:
        workers = {"current": Worker(ROOT, work / "index-current", args.corpus.resolve()),
                   "baseline": Worker(baseline, work / "index-baseline", args.corpus.resolve())}
        latencies: dict[str, list[float]] = {"current": [], "baseline": []}
        print(f"{'question':<60} {'current s':>10} {'baseline s':>11}")
        for i, q in enumerate(questions):
            order = ["current", "baseline"] if i % 2 == 0 else ["baseline", "current"]  # neither always goes first
            row = {name: workers[name].ask(q["question"]) for name in order}
            for name in latencies:
                latencies[name].append(row[name]["latency_ms"] / 1000)
            print(f"{q['question'][:60]:<60} {latencies['current'][-1]:>10.1f} {latencies['baseline'][-1]:>11.1f}")
        for worker in workers.values():
            worker.close()
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], capture_output=True)
    p50 = {name: statistics.median(values) for name, values in latencies.items()}
    print(f"\np50: current {p50['current']:.1f} s, baseline {args.baseline} {p50['baseline']:.1f} s, "
          f"ratio {p50['current'] / p50['baseline']:.2f} over {len(questions)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
