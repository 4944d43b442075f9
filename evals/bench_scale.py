"""What each index store costs at scale: build time, RAM, disk and hybrid search latency, on
synthetic 384-d chunks; and Ray's embedding throughput next to the single-process path.

    .venv/bin/python evals/bench_scale.py [--sizes 100000,1000000] [--stores faiss-exact,faiss-hnsw,milvus-lite]
                                          [--ray-texts 2000] [--json]

For each size and store: in one subprocess, chunk texts of words drawn from
the ClapNQ corpus vocabulary, random unit vectors, 20 chunks a document; the store's own `write`
(the path `rag index` takes, after embedding) is timed; in a fresh one the live generation is loaded,
BM25 built (FAISS) and searched through the Retriever (hybrid, real query embeddings of the ClapNQ dev
questions; each question asked twice, the second time its embedding is cached, so the second pass
is the store's and the service's own search cost). RAM is the RSS growth of that fresh process from
loading and warming the index (the build's peak RSS is reported apart); disk is the index folder (FAISS)
or the Milvus Lite data folder. Milvus Lite runs embedded in the process, as `RAG_VECTOR_STORE=./x.db`.

This is a benchmark, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "evals"))

from bench_index import DATASET, dir_bytes, load_questions, pct, rss_bytes, synthetic_corpus, vocabulary  # noqa: E402

STORES = ("faiss-exact", "faiss-hnsw", "milvus-lite")
CHUNKS_PER_DOC = 20
WORDS_PER_CHUNK = 40


def synthetic(n: int, seed: int = 0):
    """n chunks in n/20 documents: texts of ClapNQ corpus words, random unit vectors."""
    return synthetic_corpus(n, vocabulary(DATASET / "docs"), WORDS_PER_CHUNK, CHUNKS_PER_DOC, seed)


def _settings(store_kind: str, n: int, folder: Path):
    from rag.settings import Settings

    update = {"index_dir": folder / "index",
              "approximate_index_threshold": {"faiss-exact": n + 1, "faiss-hnsw": 1}.get(store_kind, 50_000)}
    if store_kind == "milvus-lite":
        update["vector_store"] = str(folder / "milvus" / "index.db")
    return Settings(**update)


def build(store_kind: str, n: int, folder: Path) -> dict:
    """Write one store's generation of n synthetic chunks, as `rag index` does after embedding."""
    from rag.stores import open_store

    settings = _settings(store_kind, n, folder)
    store = open_store(settings)
    chunks, documents, vectors = synthetic(n)
    manifest = {
        "embedding_model": settings.embedding_model, "dim": 384, "chunk_count": n, "corpus": ["synthetic"],
        "chunking": {"chunk_tokens": settings.chunk_tokens, "chunk_overlap_tokens": settings.chunk_overlap_tokens},
        "files": {d.source: {"sha256": d.sha256, "lines": len(d.lines)} for d in documents},
        "index_type": store.index_type(n, settings.approximate_index_threshold),
    }
    started = time.perf_counter()
    with store.build_lock():
        store.write(manifest, chunks, documents, vectors)
    build_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"store": store_kind, "chunks": n, "index_type": manifest["index_type"], "build_s": round(build_s, 1),
            "build_peak_rss_mb": round(peak / 2**20)}


def measure(store_kind: str, n: int, folder: Path, questions: int) -> dict:
    """Load the generation in a fresh process and search it: RAM is what loading and warming add."""
    import bm25s  # noqa: F401  (libraries imported before the baseline are not the index's cost)
    import faiss  # noqa: F401

    from rag.embedder import Embedder
    from rag.retriever import Retriever
    from rag.stores import open_store

    if store_kind == "milvus-lite":
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    settings = _settings(store_kind, n, folder)
    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size)
    embedder.encode_query("warm up the model")
    asked = load_questions(DATASET / "dev.jsonl", questions)
    baseline = rss_bytes()
    started = time.perf_counter()
    retriever = Retriever(open_store(settings).load(), embedder, settings)
    retriever.warm_up()
    load_s = time.perf_counter() - started
    retriever.search("warm up the search", k=5)
    ram = rss_bytes() - baseline
    first, repeat = [], []
    for timings in (first, repeat):
        for question in asked:
            started = time.perf_counter()
            retriever.search(question, k=5)
            timings.append((time.perf_counter() - started) * 1000)
    disk = dir_bytes(folder)
    return {
        "load_s": round(load_s, 1), "ram_mb": round(ram / 2**20), "ram_bytes_per_chunk": round(ram / n),
        "disk_mb": round(disk / 2**20), "disk_bytes_per_chunk": round(disk / n),
        "search_p50_ms": round(pct(first, 50), 1), "search_p95_ms": round(pct(first, 95), 1),
        "cached_p50_ms": round(pct(repeat, 50), 1), "cached_p95_ms": round(pct(repeat, 95), 1),
        "questions": len(asked),
    }


def _rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def _phase(command: list[str], timeout_s: float, max_rss_gb: float) -> tuple[dict | None, str | None]:
    """Run one phase in a subprocess, stopped past `timeout_s` or `max_rss_gb` (the machine's memory is
    shared: a store that needs more is reported as such, not allowed to swap the machine to a halt)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _rss_of(process.pid))
        stopped = None
        if peak > max_rss_gb * 2**30:
            stopped = f"stopped at {peak / 2**30:.1f} GB RSS (limit {max_rss_gb} GB) after {time.perf_counter() - started:.0f} s"
        elif time.perf_counter() - started > timeout_s:
            stopped = f"not finished within {timeout_s:.0f} s (RSS {peak / 2**30:.1f} GB)"
        if stopped:
            process.kill()
            process.wait()
            return None, stopped
        time.sleep(0.5)
    out, err = process.communicate()
    if process.returncode != 0:
        return None, " ".join(err.strip().splitlines()[-1:])
    return json.loads(out.strip().splitlines()[-1]), None


def run_one(store_kind: str, n: int, questions: int, timeout_s: float, max_rss_gb: float) -> dict:
    """Build in one subprocess, then load and search in a fresh one."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-scale-{store_kind}-"))
    try:
        row: dict = {"store": store_kind, "chunks": n}
        for phase in ("build", "measure"):
            command = [sys.executable, __file__, "--phase", phase, store_kind, str(n), str(folder), "--questions", str(questions)]
            result, error = _phase(command, timeout_s, max_rss_gb)
            if error:
                row["error"] = f"{phase}: {error}"
                return row
            row.update(result)
        return row
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--questions", type=int, default=100, help="ClapNQ dev questions searched")
    parser.add_argument("--ray-texts", type=int, default=2000, help="texts embedded on Ray and in process (0: skip)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one store and size may take")
    parser.add_argument("--max-rss-gb", type=float, default=16.0, help="memory one store and size may take")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", nargs=4, metavar=("PHASE", "STORE", "N", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        logging.basicConfig(level=logging.WARNING)
        phase, store_kind, n, folder = args.phase
        result = build(store_kind, int(n), Path(folder)) if phase == "build" else measure(store_kind, int(n), Path(folder), args.questions)
        print(json.dumps(result))
        return

    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for store_kind in args.stores.split(","):
            rows.append(run_one(store_kind, n, args.questions, args.timeout, args.max_rss_gb))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    ray = None
    if args.ray_texts:
        from bench_ray import chunk_texts, local_throughput, ray_throughput
        from rag.embedder import Embedder
        from rag.settings import load_settings

        settings = load_settings()
        embedder = Embedder(settings.embedding_model, settings.embedding_batch_size, cache_dir=settings.model_cache_dir)
        texts = chunk_texts(DATASET / "docs", args.ray_texts, embedder, settings.chunk_tokens)
        local = local_throughput(texts, embedder)
        ray = ray_throughput(texts, settings)
        ray["max_abs_difference"] = float(abs(ray.pop("vectors") - local.pop("vectors")).max())
        ray["local_texts_per_s"] = local["texts_per_s"]
        ray["ratio_ray_to_local"] = round(ray["texts_per_s"] / local["texts_per_s"], 3)
        if ray.get("steady_texts_per_s"):
            ray["steady_ratio_ray_to_local"] = round(ray["steady_texts_per_s"] / local["texts_per_s"], 3)
    if args.json:
        print(json.dumps({"stores": rows, "ray": ray}, indent=1))
        return
    print(f"{'store':<12} {'chunks':>9} {'build s':>8} {'RAM MB':>7} {'B/chunk':>8} {'disk MB':>8} {'B/chunk':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'cached p50':>10}")
    for row in rows:
        if "error" in row:
            print(f"{row['store']:<12} {row['chunks']:>9}  {row['error']}")
            continue
        print(f"{row['store']:<12} {row['chunks']:>9} {row['build_s']:>8} {row['ram_mb']:>7} {row['ram_bytes_per_chunk']:>8} "
              f"{row['disk_mb']:>8} {row['disk_bytes_per_chunk']:>8} {row['search_p50_ms']:>7} {row['search_p95_ms']:>7} "
              f"{row['cached_p50_ms']:>10}")
    if ray:
        print("ray embedding:", json.dumps(ray))


if __name__ == "__main__":
    main()
