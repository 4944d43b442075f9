"""Benchmark indexing throughput, search latency and the index's memory and disk cost.

    .venv/bin/python evals/bench_index.py [--quick] [--corpus DIR] [--sizes 1000,100000] [--json]

(a) Indexing: the corpus (ClapNQ docs by default) is indexed from scratch into
    a temp folder with the real embedder (model loaded beforehand, so load time
    is not counted), then `model.encode` alone runs on exactly the texts the
    indexer embedded, with the same batch size. Their ratio is the service's
    overhead (reading, chunking, token counting, writing, FAISS).
(b) Search: for each synthetic size, chunk texts (words drawn from the corpus
    vocabulary) and random unit vectors are written as a generation with
    rag.stores.faiss.write_generation + rag.stores.faiss.build_dense_index (HNSW at or above
    settings.approximate_index_threshold), loaded with load_snapshot and queried
    through Retriever (hybrid, real query embeddings of the golden questions).
    FAISS-only time is the bare index.search of the same vectors, with the same
    fetch size the retriever uses.
(c) Memory and disk: RSS growth from loading the snapshot, building the
    Retriever and the BM25 index, per chunk; generation folder bytes per chunk.
    Each size is measured in a fresh subprocess so earlier work does not skew RSS.

This is a benchmark, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASET = REPO / "evals" / "golden" / "clapnq"


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(values, q):
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load_questions(path: Path, limit: int) -> list[str]:
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                questions.append(json.loads(line)["question"])
    return questions[:limit]


# (a) ------------------------------------------------------------------------------
def bench_indexing(corpus: Path, max_files: int | None) -> dict:
    from rag.embedder import Embedder
    from rag.chunker import embedding_text
    from rag.indexer import Indexer
    from rag.settings import Settings
    from rag.stores.faiss import load_snapshot

    work = Path(tempfile.mkdtemp(prefix="rag-bench-index-"))
    try:
        if max_files:
            subset = work / "corpus"
            subset.mkdir()
            for path in sorted(corpus.iterdir())[:max_files]:
                shutil.copy(path, subset / path.name)
            corpus = subset
        settings = Settings(index_dir=work / "index", corpus=corpus)
        embedder = Embedder(settings.embedding_model, settings.embedding_batch_size)
        started = time.perf_counter()
        model = embedder.model
        embedder.encode(["warm up the model"])
        load_s = time.perf_counter() - started

        stats = Indexer(settings, embedder).build([corpus], progress=False)
        build_s = stats.seconds

        snapshot = load_snapshot(settings.index_dir)
        titles = {s: d.title for s, d in snapshot.documents.items()}
        texts = [embedding_text(c, titles.get(c.source)) for c in snapshot.chunks]
        started = time.perf_counter()
        model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True, convert_to_numpy=True)
        encode_s = time.perf_counter() - started
        tokens = embedder.count_tokens(texts)
        return {
            "files": stats.files,
            "chunks": stats.chunks,
            "mean_tokens_per_chunk": round(sum(tokens) / len(tokens), 1),
            "batch_size": settings.embedding_batch_size,
            "model_load_s": round(load_s, 2),
            "build_s": round(build_s, 2),
            "encode_s": round(encode_s, 2),
            "build_chunks_per_s": round(stats.chunks / build_s, 1),
            "encode_chunks_per_s": round(len(texts) / encode_s, 1),
            "overhead_ratio": round(build_s / encode_s, 3),
            "index_type": stats.index_type,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# (b), (c): writing a synthetic generation ---------------------------------------------------
def vocabulary(corpus: Path) -> list[str]:
    import re

    words = []
    for path in sorted(corpus.iterdir()):
        words.extend(re.findall(r"[A-Za-z][A-Za-z'-]+|\d+", path.read_text(encoding="utf-8", errors="replace")))
    return words  # with repeats, so sampling follows the corpus's word frequencies


def synthetic_corpus(n: int, words: list[str], words_per_chunk: int, chunks_per_doc: int, seed: int):
    """n one-line chunks of words drawn from `words`, chunks_per_doc to a document, and random unit vectors."""
    import numpy as np

    from rag.stores import DocumentRecord
    from rag.types import Chunk

    rng = np.random.default_rng(seed)
    vocab = np.array(words, dtype=object)
    picks = rng.integers(0, len(vocab), size=(n, words_per_chunk))
    texts = [" ".join(row) for row in vocab[picks]]
    chunks: list[Chunk] = []
    documents: list[DocumentRecord] = []
    for d, start in enumerate(range(0, n, chunks_per_doc)):
        source = f"synthetic/{d // 1000:04d}/doc{d:07d}.txt"
        lines = texts[start : start + chunks_per_doc]
        documents.append(DocumentRecord(source, f"{d:064x}", lines, None))
        chunks.extend(Chunk(source, i + 1, i + 1, line) for i, line in enumerate(lines))
    vectors = rng.standard_normal((n, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return chunks, documents, vectors


def write_synthetic(index_dir: Path, n: int, words: list[str], words_per_chunk: int, chunks_per_doc: int, seed: int) -> dict:
    from rag.settings import Settings
    from rag.stores.faiss import build_dense_index, write_generation

    settings = Settings(index_dir=index_dir)
    started = time.perf_counter()
    chunks, documents, vectors = synthetic_corpus(n, words, words_per_chunk, chunks_per_doc, seed)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    dense = build_dense_index(vectors, settings.approximate_index_threshold, settings.hnsw_m, settings.hnsw_ef_search)
    dense_build_s = time.perf_counter() - started
    index_type = "HNSW" if n >= settings.approximate_index_threshold else "exact"
    manifest = {
        "embedding_model": settings.embedding_model,
        "dim": 384,
        "chunking": {"chunk_tokens": settings.chunk_tokens, "chunk_overlap_tokens": settings.chunk_overlap_tokens},
        "chunk_count": n,
        "corpus": ["synthetic"],
        "files": {d.source: {"sha256": d.sha256, "lines": len(d.lines)} for d in documents},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "index_type": index_type,
    }
    started = time.perf_counter()
    generation = write_generation(index_dir, manifest, chunks, documents, dense)
    write_s = time.perf_counter() - started
    return {
        "chunks": n,
        "index_type": index_type,
        "generate_s": round(generate_s, 2),
        "dense_build_s": round(dense_build_s, 2),
        "write_s": round(write_s, 2),
        "disk_bytes": dir_bytes(generation),
        "disk_bytes_per_chunk": round(dir_bytes(generation) / n, 1),
    }


# (b), (c): measuring, in a fresh process ---------------------------------------------
def measure(index_dir: Path, questions: list[str]) -> dict:
    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    from rag.embedder import Embedder
    from rag.retriever import Retriever
    from rag.settings import Settings
    from rag.stores.faiss import load_snapshot

    import faiss  # noqa: F401  (imported before the baseline so its libraries are not counted)
    import bm25s  # noqa: F401
    import Stemmer  # noqa: F401

    settings = Settings(index_dir=index_dir)
    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size)
    embedder.encode_query("warm up the model")
    baseline = rss_bytes()

    started = time.perf_counter()
    snapshot = load_snapshot(index_dir)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    retriever = Retriever(snapshot, embedder, settings)
    retriever_init_s = time.perf_counter() - started
    after_load = rss_bytes()
    started = time.perf_counter()
    retriever.warm_up()  # builds BM25
    bm25_build_s = time.perf_counter() - started
    after_bm25 = rss_bytes()
    n = snapshot.size

    retriever.search("warm up the search", k=5, mode="hybrid")
    # A new question pays for its embedding (the model's forward pass); a repeated one finds it
    # in the query cache, so the second pass is the service's own search cost.
    hybrid_ms, hybrid_cpu_ms, repeat_ms = [], [], []
    for q in questions:
        started, cpu = time.perf_counter(), time.process_time()
        retriever.search(q, k=5, mode="hybrid")
        hybrid_ms.append((time.perf_counter() - started) * 1000)
        hybrid_cpu_ms.append((time.process_time() - cpu) * 1000)
    for q in questions:
        started = time.perf_counter()
        retriever.search(q, k=5, mode="hybrid")
        repeat_ms.append((time.perf_counter() - started) * 1000)

    encode_ms, query_vectors = [], []
    for q in questions:
        started = time.perf_counter()
        query_vectors.append(embedder.encode([q])[0])  # torch, as documents are embedded
        encode_ms.append((time.perf_counter() - started) * 1000)
    uncached = Embedder(settings.embedding_model, query_cache_size=0, query_backend=settings.embedding_query_backend)
    uncached.encode_query("warm up the query path")
    query_path_ms = []
    for q in questions:
        started = time.perf_counter()
        uncached.encode_query(q)  # what a search pays for a new question (onnxruntime by default)
        query_path_ms.append((time.perf_counter() - started) * 1000)

    fetch = min(max(settings.candidate_k, 5 * 4) * 2, n)  # what Retriever._dense_ranking asks FAISS for
    faiss_ms = []
    for v in query_vectors:
        x = v[None, :].astype(np.float32)
        started = time.perf_counter()
        snapshot.dense.search(x, fetch)
        faiss_ms.append((time.perf_counter() - started) * 1000)

    bm25_ms = []
    for q in questions:
        started = time.perf_counter()
        retriever.bm25.search(q, max(settings.candidate_k, 20) * 2)
        bm25_ms.append((time.perf_counter() - started) * 1000)

    return {
        "chunks": n,
        "index_type": type(snapshot.dense).__name__,
        "queries": len(questions),
        "load_snapshot_s": round(load_s, 2),
        "retriever_init_s": round(retriever_init_s, 2),
        "bm25_build_s": round(bm25_build_s, 2),
        "hybrid_p50_ms": round(pct(hybrid_ms, 50), 2),
        "hybrid_p95_ms": round(pct(hybrid_ms, 95), 2),
        "hybrid_cpu_p50_ms": round(pct(hybrid_cpu_ms, 50), 2),
        "hybrid_repeat_p50_ms": round(pct(repeat_ms, 50), 2),
        "hybrid_repeat_p95_ms": round(pct(repeat_ms, 95), 2),
        "query_embed_p50_ms": round(pct(encode_ms, 50), 2),
        "query_path_p50_ms": round(pct(query_path_ms, 50), 2),
        "faiss_p50_ms": round(pct(faiss_ms, 50), 3),
        "faiss_p95_ms": round(pct(faiss_ms, 95), 3),
        "bm25_p50_ms": round(pct(bm25_ms, 50), 2),
        "bm25_p95_ms": round(pct(bm25_ms, 95), 2),
        "rss_load_bytes_per_chunk": round((after_load - baseline) / n, 1),
        "rss_bytes_per_chunk": round((after_bm25 - baseline) / n, 1),
        "rss_delta_mb": round((after_bm25 - baseline) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpus, sizes and query count")
    parser.add_argument("--corpus", type=Path, default=DATASET / "docs")
    parser.add_argument("--golden", type=Path, default=DATASET / "dev.jsonl", help="queries for the latency runs")
    parser.add_argument("--sizes", default=None, help="synthetic chunk counts, comma separated [1000,100000]")
    parser.add_argument("--queries", type=int, default=None, help="queries per size [150; --quick 50]")
    parser.add_argument("--words-per-chunk", type=int, default=120)
    parser.add_argument("--skip-indexing", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--_measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    corpus = args.corpus.resolve()
    queries = args.queries or (50 if args.quick else 150)
    questions = load_questions(args.golden.resolve(), queries)
    if args._measure:
        print(json.dumps(measure(args._measure, questions)))
        return 0

    sizes = [int(s) for s in (args.sizes or ("1000,50000" if args.quick else "1000,100000")).split(",")]
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    report: dict = {"machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}}
    if not args.skip_indexing:
        log("(a) indexing the corpus from scratch ...")
        report["indexing"] = bench_indexing(corpus, 150 if args.quick else None)

    words = vocabulary(corpus)
    report["search"] = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"rag-bench-{n}-"))
        try:
            log(f"(b) writing a synthetic generation of {n} chunks ...")
            written = write_synthetic(work / "index", n, words, args.words_per_chunk, chunks_per_doc=10, seed=n)
            log(f"    measuring {n} chunks in a fresh process ...")
            child = subprocess.run(
                [sys.executable, __file__, "--_measure", str(work / "index"), "--golden", str(args.golden),
                 "--queries", str(queries)],
                capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                print(child.stderr[-2000:], file=sys.stderr)
                return 1
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            report["search"].append({**written, **measured})
        finally:
            shutil.rmtree(work, ignore_errors=True)

    report["machine"]["loadavg_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_tables(report)
    return 0


def settings_backend() -> str:
    from rag.settings import Settings

    return Settings().embedding_query_backend


def print_tables(report: dict) -> None:
    m = report["machine"]
    print(f"{m['cpus']} CPUs; 1-min load average {m['loadavg_start']:.1f} at start, {m['loadavg_end']:.1f} at end "
          "(above the CPU count, other processes were competing: wall times are inflated)")
    ix = report.get("indexing")
    if ix:
        print(f"\n(a) indexing {ix['files']} files -> {ix['chunks']} chunks (mean {ix['mean_tokens_per_chunk']} word pieces, "
              f"batch {ix['batch_size']}; model load {ix['model_load_s']} s not counted)")
        print(f"{'':<22} {'seconds':>8} {'chunks/s':>9}")
        print(f"{'full build (Indexer)':<22} {ix['build_s']:>8.2f} {ix['build_chunks_per_s']:>9.1f}")
        print(f"{'model.encode only':<22} {ix['encode_s']:>8.2f} {ix['encode_chunks_per_s']:>9.1f}")
        print(f"build / encode time ratio: {ix['overhead_ratio']:.3f} (service overhead {100 * (ix['overhead_ratio'] - 1):+.1f}%)")
    rows = report["search"]
    if rows:
        print("\n(b) search latency, hybrid end to end (Retriever.search): 'hyb' a new question, its "
              "embedding included; 'repeat' the same question again (embedding cached); 'torch emb' one "
              "question embedded by torch, 'query emb' by the query path a search uses "
              f"({settings_backend()}); 'hyb cpu' = process CPU time, all threads; ms; "
              f"{rows[0]['queries']} queries")
        cols = [
            ("chunks", "chunks", "{:>8}"), ("index", "index_type", "{:>14}"),
            ("hyb p50", "hybrid_p50_ms", "{:>8.2f}"), ("hyb p95", "hybrid_p95_ms", "{:>8.2f}"),
            ("hyb cpu p50", "hybrid_cpu_p50_ms", "{:>11.2f}"),
            ("repeat p50", "hybrid_repeat_p50_ms", "{:>10.2f}"),
            ("torch emb p50", "query_embed_p50_ms", "{:>13.2f}"),
            ("query emb p50", "query_path_p50_ms", "{:>13.2f}"),
            ("faiss p50", "faiss_p50_ms", "{:>9.3f}"), ("faiss p95", "faiss_p95_ms", "{:>9.3f}"),
            ("bm25 p50", "bm25_p50_ms", "{:>8.2f}"), ("bm25 p95", "bm25_p95_ms", "{:>8.2f}"),
        ]
        print(" ".join(f"{h:>{len(f.format(rows[0][k]))}}" for h, k, f in cols))
        for r in rows:
            print(" ".join(f.format(r[k]) for _, k, f in cols))
        print("\n(b/c) build, load, memory and disk")
        cols = [
            ("chunks", "chunks", "{:>8}"), ("faiss build s", "dense_build_s", "{:>13.2f}"),
            ("write s", "write_s", "{:>7.2f}"), ("load s", "load_snapshot_s", "{:>6.2f}"),
            ("retr init s", "retriever_init_s", "{:>11.2f}"), ("bm25 build s", "bm25_build_s", "{:>12.2f}"),
            ("RSS MB", "rss_delta_mb", "{:>7.1f}"), ("RSS B/chunk", "rss_bytes_per_chunk", "{:>11.0f}"),
            ("(load only)", "rss_load_bytes_per_chunk", "{:>11.0f}"), ("disk B/chunk", "disk_bytes_per_chunk", "{:>12.0f}"),
        ]
        print(" ".join(f"{h:>{len(f.format(rows[0][k]))}}" for h, k, f in cols))
        for r in rows:
            print(" ".join(f.format(r[k]) for _, k, f in cols))


if __name__ == "__main__":
    raise SystemExit(main())
