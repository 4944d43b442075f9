"""Compare retrieval modes (dense, BM25, hybrid) on a golden file.

    .venv/bin/python evals/retrieval_compare.py [--golden FILE] [--corpus DIR] [-k 5]
        [--index-dir DIR] [--json] [--rrf-k N] [--dense-weight W] [--bm25-weight W]
        [--candidate-k N] [--chunk-tokens N] [--max-passage-chars N]

The corpus is indexed (incrementally) into a folder of its own under the
system temp dir, keyed by the corpus path, model and chunking: the project's
index/ is never touched. For every answerable golden question with evidence,
each mode is searched and scored:

* hit@k    any gold span (source + inclusive line range; lines null = whole
           source) overlaps one of the top-k passages
* recall@k fraction of the question's gold spans overlapped by some top-k passage
* MRR      1/rank of the first overlapping passage (0 when none)

Latency is the wall time of Retriever.search (query embedding included for
dense and hybrid), reported as p50/p95 per mode.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATASET = REPO / ".." / "shared" / "datasets" / "clapnq"
MODES = ("dense", "bm25", "hybrid")


def overlaps(gold: dict, source: str, start: int, end: int) -> bool:
    if gold["source"] != source:
        return False
    lines = gold.get("lines")
    if lines is None:
        return True
    g_start, g_end = int(lines[0]), int(lines[1])
    return start <= g_end and g_start <= end


def score(passages, evidence: list[dict], k: int) -> tuple[float, float, float]:
    top = passages[:k]
    first = next(
        (rank for rank, p in enumerate(top, 1) if any(overlaps(g, p.source, p.start_line, p.end_line) for g in evidence)),
        None,
    )
    covered = sum(1 for g in evidence if any(overlaps(g, p.source, p.start_line, p.end_line) for p in top))
    return (1.0 if first else 0.0, covered / len(evidence), 1.0 / first if first else 0.0)


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def load_questions(path: Path) -> list[dict]:
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            q = json.loads(line)
            if q.get("answerable", True) and q.get("evidence"):
                questions.append(q)
    return questions


def default_index_dir(corpus: Path, settings) -> Path:
    key = json.dumps([str(corpus.resolve()), settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap_tokens])
    return Path(tempfile.gettempdir()) / "rag-retrieval-compare" / hashlib.sha256(key.encode()).hexdigest()[:16]


def evaluate(retriever, questions: list[dict], k: int, modes=MODES) -> dict:
    results = {}
    for mode in modes:
        hits, recalls, rrs, latencies = [], [], [], []
        for q in questions:
            started = time.perf_counter()
            passages = retriever.search(q["question"], k=k, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            h, r, rr = score(passages, q["evidence"], k)
            hits.append(h)
            recalls.append(r)
            rrs.append(rr)
        n = len(questions)
        results[mode] = {
            "hit_at_k": round(sum(hits) / n, 4),
            "recall_at_k": round(sum(recalls) / n, 4),
            "mrr": round(sum(rrs) / n, 4),
            "latency_p50_ms": round(percentile(latencies, 50), 2),
            "latency_p95_ms": round(percentile(latencies, 95), 2),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=DATASET / "dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=DATASET / "docs")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--rrf-k", type=int)
    parser.add_argument("--dense-weight", type=float)
    parser.add_argument("--bm25-weight", type=float)
    parser.add_argument("--candidate-k", type=int)
    parser.add_argument("--chunk-tokens", type=int)
    parser.add_argument("--max-passage-chars", type=int)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from rag.embedder import Embedder
    from rag.indexer import Indexer
    from rag.retriever import Retriever
    from rag.settings import Settings
    from rag.store import load_snapshot

    overrides = {
        name: value
        for name, value in {
            "rrf_k": args.rrf_k,
            "dense_weight": args.dense_weight,
            "bm25_weight": args.bm25_weight,
            "candidate_k": args.candidate_k,
            "chunk_tokens": args.chunk_tokens,
            "max_passage_chars": args.max_passage_chars,
        }.items()
        if value is not None
    }
    settings = Settings(**overrides)
    corpus = args.corpus.resolve()
    index_dir = (args.index_dir or default_index_dir(corpus, settings)).resolve()
    settings = settings.model_copy(update={"index_dir": index_dir, "corpus": corpus})

    questions = load_questions(args.golden)
    if not questions:
        print(f"error: no answerable questions with evidence in {args.golden}", file=sys.stderr)
        return 1

    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size)
    stats = Indexer(settings, embedder).build([corpus], index_dir, progress=False)
    retriever = Retriever(load_snapshot(index_dir), embedder, settings)
    retriever.warm_up()
    embedder.encode_query("warm up")

    results = evaluate(retriever, questions, args.k)
    report = {
        "golden": str(args.golden.resolve()),
        "corpus": str(corpus),
        "index_dir": str(index_dir),
        "chunks": stats.chunks,
        "embedded_chunks": stats.embedded_chunks,
        "questions": len(questions),
        "k": args.k,
        "settings": {
            name: getattr(settings, name)
            for name in ("rrf_k", "dense_weight", "bm25_weight", "candidate_k", "chunk_tokens", "max_passage_chars")
        },
        "modes": results,
    }
    best_other = max(results["dense"]["mrr"], results["bm25"]["mrr"])
    report["hybrid_beats_both"] = all(
        results["hybrid"][m] > max(results["dense"][m], results["bm25"][m]) for m in ("hit_at_k", "recall_at_k", "mrr")
    )
    if args.json:
        print(json.dumps(report, indent=1))
        return 0

    k = args.k
    print(f"corpus {corpus} ({stats.chunks} chunks, {stats.embedded_chunks} embedded now), index {index_dir}")
    print(f"questions: {len(questions)} answerable with evidence; k={k}; settings {report['settings']}")
    header = f"{'mode':<8} {'hit@' + str(k):>7} {'recall@' + str(k):>9} {'MRR':>7} {'p50 ms':>8} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for mode in MODES:
        r = results[mode]
        print(
            f"{mode:<8} {r['hit_at_k']:>7.4f} {r['recall_at_k']:>9.4f} {r['mrr']:>7.4f} "
            f"{r['latency_p50_ms']:>8.2f} {r['latency_p95_ms']:>8.2f}"
        )
    print(
        f"hybrid beats both on hit, recall and MRR: {'yes' if report['hybrid_beats_both'] else 'no'} "
        f"(MRR margin over the better single mode: {results['hybrid']['mrr'] - best_other:+.4f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
