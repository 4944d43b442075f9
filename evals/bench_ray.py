"""Benchmark bulk embedding: in-process Embedder.encode against embed_on_ray (Ray Data actors).

    .venv/bin/python evals/bench_ray.py [--n 2000] [--corpus DIR] [--actors K] [--json]

Both paths embed the same N chunk-sized texts: the corpus's lines (ClapNQ docs by default,
else seeds/) packed up to settings.chunk_tokens word pieces and led by the document title,
as the indexer embeds them; when the corpus gives fewer than N, it is packed again from a
line further on, so the texts differ. The local model load and a warm-up are not counted.
Ray start-up (ray.init) is reported apart and not counted; each embed_on_ray call does pay
for starting its actors and loading the model in each, so that is measured too (a call on
one text per actor) and taken off for the steady rate a large corpus approaches.

This is a benchmark, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPORA = [Path("/work/shared/datasets/clapnq/docs"), REPO / "evals" / "golden" / "clapnq" / "docs", REPO / "seeds"]


def chunk_texts(corpus: Path, n: int, embedder, chunk_tokens: int) -> list[str]:
    docs = []
    for path in sorted(corpus.iterdir()):
        if path.is_file():
            lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            if lines:
                docs.append((lines[0], lines[1:] or lines, embedder.count_tokens(lines[1:] or lines)))
    texts: list[str] = []
    for shift in range(max(len(lines) for _, lines, _ in docs)):
        for title, lines, tokens in docs:
            pending, size = [], 0
            for line, count in zip(lines[shift:], tokens[shift:]):
                if pending and size + count > chunk_tokens:
                    texts.append(title + "\n" + "\n".join(pending))
                    pending, size = [], 0
                pending.append(line)
                size += count
            if pending:
                texts.append(title + "\n" + "\n".join(pending))
            if len(texts) >= n:
                return texts[:n]
    return (texts * (n // max(1, len(texts)) + 1))[:n]


def ray_throughput(texts: list[str], settings, measure_overhead: bool = True) -> dict:
    """Time embed_on_ray on `texts`: Ray start-up apart (0 when Ray was already running), the
    call itself, and the fixed cost of a call (actor start and model loads) on one text per actor.
    The dict holds numbers, and the vectors under "vectors"."""
    from rag.ray_embedding import embed_on_ray, ensure_ray

    started = time.perf_counter()
    ensure_ray()
    startup_s = time.perf_counter() - started
    overhead_s = None
    if measure_overhead:
        started = time.perf_counter()
        embed_on_ray(texts[: settings.ray_actors], settings)
        overhead_s = time.perf_counter() - started
    started = time.perf_counter()
    vectors = embed_on_ray(texts, settings)
    seconds = time.perf_counter() - started
    result = {
        "texts": len(texts),
        "actors": settings.ray_actors,
        "ray_startup_s": round(startup_s, 2),
        "seconds": round(seconds, 2),
        "texts_per_s": round(len(texts) / seconds, 1),
        "vectors": vectors,
    }
    if overhead_s is not None:
        result["call_overhead_s"] = round(overhead_s, 2)
        steady = seconds - overhead_s
        result["steady_texts_per_s"] = round(len(texts) / steady, 1) if steady > 0 else None
    return result


def local_throughput(texts: list[str], embedder) -> dict:
    started = time.perf_counter()
    _ = embedder.model
    embedder.encode(["warm up the model"])
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    seconds = time.perf_counter() - started
    return {"model_load_s": round(load_s, 2), "seconds": round(seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 1), "vectors": vectors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="texts to embed [2000]")
    parser.add_argument("--corpus", type=Path, default=next((c for c in CORPORA if c.is_dir()), CORPORA[-1]))
    parser.add_argument("--actors", type=int, default=None, help="ray_actors [from settings]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np

    from rag.embedder import Embedder
    from rag.settings import load_settings

    settings = load_settings(ray_actors=args.actors)
    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size, cache_dir=settings.model_cache_dir)
    texts = chunk_texts(args.corpus, args.n, embedder, settings.chunk_tokens)
    tokens = embedder.count_tokens(texts)
    load_start = os.getloadavg()[0]
    local = local_throughput(texts, embedder)
    ray = ray_throughput(texts, settings)
    report = {
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0]},
        "corpus": str(args.corpus),
        "texts": len(texts),
        "mean_tokens": round(sum(tokens) / len(tokens), 1),
        "batch_size": settings.embedding_batch_size,
        "local": {k: v for k, v in local.items() if k != "vectors"},
        "ray": {k: v for k, v in ray.items() if k != "vectors"},
        "ratio_ray_local": round(ray["texts_per_s"] / local["texts_per_s"], 3),
        "ratio_ray_steady_local": round(ray["steady_texts_per_s"] / local["texts_per_s"], 3)
        if ray.get("steady_texts_per_s") else None,
        "max_abs_diff": float(np.abs(ray["vectors"] - local["vectors"]).max()),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m, r, lo = report["machine"], report["ray"], report["local"]
    print(f"{m['cpus']} CPUs; 1-min load average {m['loadavg_start']:.1f} at start, {m['loadavg_end']:.1f} at end "
          "(above the CPU count, other processes were competing: wall times are inflated)")
    print(f"{report['texts']} texts from {report['corpus']} (mean {report['mean_tokens']} word pieces), "
          f"batch {report['batch_size']}, {r['actors']} Ray actors")
    print(f"Ray start-up (ray.init, not counted): {r['ray_startup_s']:.2f} s; "
          f"local model load (not counted): {lo['model_load_s']:.2f} s")
    print(f"{'':<48} {'seconds':>8} {'texts/s':>8}")
    print(f"{'local Embedder.encode':<48} {lo['seconds']:>8.2f} {lo['texts_per_s']:>8.1f}")
    print(f"{'ray embed_on_ray (actor start + model loads in)':<48} {r['seconds']:>8.2f} {r['texts_per_s']:>8.1f}")
    if r.get("steady_texts_per_s"):
        steady = r["seconds"] - r["call_overhead_s"]
        print(f"{'ray, less the per-call overhead':<48} {steady:>8.2f} {r['steady_texts_per_s']:>8.1f}")
        print(f"per-call overhead (embed_on_ray on {r['actors']} texts): {r['call_overhead_s']:.2f} s")
    print(f"ratio ray/local texts/s: {report['ratio_ray_local']:.3f} end to end"
          + (f", {report['ratio_ray_steady_local']:.3f} steady" if report["ratio_ray_steady_local"] else ""))
    print(f"max abs vector difference ray vs local: {report['max_abs_diff']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
