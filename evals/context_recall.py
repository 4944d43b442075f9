"""How often the line that answers reaches the model's prompt (no language model is run).

    .venv/bin/python evals/context_recall.py [--golden FILE] [--corpus DIR] [--budget N ...] [--json]

For every answerable golden question whose evidence names lines, the answer path's own steps
are run up to the prompt: retrieve `answer_passages` passages, rank their lines
(`Answerer.rank_lines`) and keep the best within the prompt budget. A question counts when a
gold line is among the kept lines. `candidates` counts gold lines among all the retrieved
passages' lines (what any line ranking could reach). Settings come from the usual RAG_*
environment variables (RAG_EMBEDDING_MODEL, RAG_ANSWER_PASSAGES, RAG_CONTEXT_LEXICAL_WEIGHT ...).
With `--corpus` the corpus gets an index of its own, as `rag eval --corpus` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, default=REPO / "evals" / "golden" / "seeds.jsonl")
    parser.add_argument("--corpus", type=Path, default=None, help="index this folder on its own [the default index]")
    parser.add_argument("--budget", type=int, nargs="+", default=None, help="prompt budgets in word pieces [the setting]")
    parser.add_argument("--misses", action="store_true", help="list the questions whose gold line was not kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from rag.answer import Answerer
    from rag.evaluation.golden import load_golden
    from rag.evaluation.runner import over_corpus
    from rag.service import RagService
    from rag.settings import load_settings

    service = RagService(load_settings())
    if args.corpus is not None:
        service = over_corpus(service, args.corpus)
    settings = service.settings
    budgets = args.budget or [settings.prompt_context_tokens]
    # Only the line ranking is used: no model is loaded (the claim check's judge loads lazily).
    answerer = Answerer(settings, llm=None, embedder=service.embedder)
    retriever = service.retriever
    questions = [q for q in load_golden(args.golden) if q.answerable and any(e.lines for e in q.evidence)]
    kept = {budget: 0 for budget in budgets}
    reachable, seconds, misses = 0, [], []
    for golden in questions:
        gold = {(e.source, e.page, n) for e in golden.evidence if e.lines for n in range(e.lines[0], e.lines[1] + 1)}
        mark = time.perf_counter()
        passages = retriever.search(golden.question, settings.answer_passages)
        ranked = answerer.rank_lines(golden.question, passages, retriever)
        seconds.append(time.perf_counter() - mark)

        def covered(lines) -> bool:
            return any((c.source, c.page, n) in gold for c in lines for n in range(c.line, c.last_line + 1))

        reachable += covered(ranked.lines)
        for budget in budgets:
            hit = covered(ranked.select(budget)[0])
            kept[budget] += hit
            if not hit and budget == budgets[0]:
                misses.append(f"{golden.id}: {golden.question}")
    table = {
        "questions": len(questions),
        "candidates": round(reachable / len(questions), 4),
        "context_recall": {str(b): round(kept[b] / len(questions), 4) for b in budgets},
        "rank_ms_p50": round(sorted(seconds)[len(seconds) // 2] * 1000, 1),
        "embedding_model": settings.embedding_model,
        "answer_passages": settings.answer_passages,
        "context_lexical_weight": settings.context_lexical_weight,
    }
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        for key, value in table.items():
            print(f"{key:<24} {value}")
    if args.misses:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
