"""Compare retrieval modes (dense only, BM25 only, fused) on a golden file.

    .venv/bin/python evals/retrieval_compare.py [--golden FILE] [--corpus DIR] [-k 5] [--json]

Defaults to the ClapNQ dev split beside the checkout. The corpus gets an index
of its own (as `rag eval --corpus` does; the project's index/ is never
touched). Metrics are those of `rag eval --retrieval-only` (evals/README.md):
hit@k, recall@k and MRR over the answerable questions, plus search latency.
Fusion settings come from the usual RAG_* environment variables, e.g.
RAG_FUSION=rrf RAG_DENSE_WEIGHT=1 RAG_BM25_WEIGHT=1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASET = REPO / "evals" / "golden" / "clapnq"
MODES = ("dense", "bm25", "hybrid")
METRICS = ("hit_at_k", "recall_at_k", "mrr", "latency_p50_ms", "latency_p95_ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, default=DATASET / "dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=DATASET / "docs")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from rag.evaluation.runner import run_eval
    from rag.service import RagService
    from rag.settings import load_settings

    service = RagService(load_settings())
    table = {}
    for mode in MODES:
        report = run_eval(service, args.golden, corpus=args.corpus, retrieval_only=True, k=args.k, mode=mode, progress=False)
        table[mode] = {name: report["metrics"][name] for name in METRICS}
    quality = METRICS[:3]
    fused, singles = table["hybrid"], [table["dense"], table["bm25"]]
    # At the ceiling (1.0) a metric cannot be beaten, only matched.
    table["fused_beats_both"] = all(
        fused[m] > max(s[m] for s in singles) or fused[m] == max(s[m] for s in singles) == 1.0 for m in quality
    ) and any(fused[m] > max(s[m] for s in singles) for m in quality)
    if args.json:
        print(json.dumps(table, indent=1))
        return 0
    settings = service.settings
    print(f"{args.golden} over {args.corpus}, k={args.k}, fusion={settings.fusion} "
          f"(dense {settings.dense_weight}, bm25 {settings.bm25_weight})")
    print(f"{'mode':<8}" + "".join(f"{m:>16}" for m in METRICS))
    for mode in MODES:
        print(f"{mode:<8}" + "".join(f"{table[mode][m]:>16.4f}" for m in METRICS))
    print(f"fused beats both single modes: {'yes' if table['fused_beats_both'] else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
