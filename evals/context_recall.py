"""How often the line that answers reaches the model: context recall of the lines shown in the prompt.

    .venv/bin/python evals/context_recall.py --golden evals/golden/seeds.jsonl [--corpus DIR]
        [--budgets 500,700,1000] [--passages 8] [--lexical-weights 0.3]

For each answerable golden question with evidence, the answering path's own retrieval
(`answer_passages` passages) and line selection (`select_context`) run without the language
model; a question counts when a shown line overlaps one of its gold spans. It prints that share
and the word pieces shown, for each prompt budget, passage count and lexical weight: the numbers
behind `prompt_context_tokens`, `answer_passages` and `context_lexical_weight`.

This is a measuring script, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, help="index this folder in an eval index of its own (as rag eval --corpus)")
    parser.add_argument("--budgets", default="500,700,1000", help="prompt_context_tokens values")
    parser.add_argument("--passages", default="8", help="answer_passages values")
    parser.add_argument("--lexical-weights", default="0.3", help="context_lexical_weight values")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    from rag.answer import Answerer
    from rag.evaluation.golden import load_golden
    from rag.evaluation.runner import eval_index_dir
    from rag.evaluation.spans import overlaps_any
    from rag.service import RagService
    from rag.settings import load_settings

    service = RagService(load_settings())
    if args.corpus:
        index_dir = eval_index_dir(service, args.corpus)
        service = service.over_index(index_dir, f"{service.settings.milvus_collection}_eval_{index_dir.name}")
        service.index([args.corpus], progress=False)
    questions = [q for q in load_golden(args.golden) if q.answerable and q.evidence][: args.limit]
    retriever, embedder = service.retriever, service.embedder
    print(f"{len(questions)} answerable questions with evidence ({args.golden})")
    print(f"{'passages':>8} {'budget':>6} {'lexical':>7} {'context recall':>14} {'word pieces shown (mean)':>25}")
    for passages in (int(p) for p in args.passages.split(",")):
        retrieved = {q.id: service.search(q.question, passages) for q in questions}
        for weight in (float(w) for w in args.lexical_weights.split(",")):
            for budget in (int(b) for b in args.budgets.split(",")):
                settings = service.settings.model_copy(update={"prompt_context_tokens": budget, "context_lexical_weight": weight})
                answerer = Answerer(settings, None, embedder)
                found, shown = 0, 0
                for question in questions:
                    lines, _ = answerer.select_context(question.question, retrieved[question.id], retriever)
                    spans = [{"source": c.source, "start_line": c.line, "end_line": c.last_line, "page": c.page} for c in lines]
                    found += any(overlaps_any(span, question.evidence) for span in spans)
                    shown += sum(embedder.count_tokens([c.text for c in lines]))
                print(f"{passages:>8} {budget:>6} {weight:>7} {found / len(questions):>14.3f} {shown / len(questions):>25.0f}")


if __name__ == "__main__":
    main()
