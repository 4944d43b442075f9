"""Negative rejection (as RGB measures it): answerable questions asked over their corpus with the answer taken out.

    .venv/bin/python evals/negative_rejection.py [--golden FILE] [--corpus DIR] [--limit N] [--out FILE] [--json]

For every answerable golden question whose evidence names lines, a copy of the corpus is written in
which every evidence line, and every line holding one of the question's reference answers (its text,
or all the figures a reference gives: "31.74 billion yuan" for "RMB 31.74 billion"), is emptied; line
numbers stay as they were. The question is then asked, through the service as a user would, over an
index of that copy alone. What remains is on topic (the same articles) but no longer holds the
answer, so the right outcome is any refusal; an answer shown is a miss. Printed: the share refused,
the outcomes, and each answer shown with its citations. The default index is never touched.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def answer_lines(lines: list[str], references: list[str]) -> set[int]:
    """The 1-based numbers of the lines that hold a reference answer, as text or as all its figures."""
    from rag.text import numbers

    # Whole words only: "BABA" is not the answer in "Alibaba".
    wanted = [(re.compile(rf"(?<!\w){re.escape(reference)}(?!\w)", re.I), numbers(reference)) for reference in references]
    return {
        number for number, line in enumerate(lines, 1)
        if any(pattern.search(line) or (figures and figures <= numbers(line)) for pattern, figures in wanted)
    }


def without_answer(corpus: Path, golden, target: Path) -> int:
    """Copy `corpus` to `target` with the question's evidence and answer lines emptied; how many were."""
    shutil.copytree(corpus, target)
    evidence: dict[str, set[int]] = {}
    for span in golden.evidence:
        evidence.setdefault(span.source, set()).update(range(span.lines[0], span.lines[1] + 1) if span.lines else ())
    emptied = 0
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        lines = path.read_text(encoding="utf-8").split("\n")
        drop = evidence.get(path.relative_to(target).as_posix(), set()) | answer_lines(lines, golden.answers)
        if drop:
            path.write_text("\n".join("" if n in drop else line for n, line in enumerate(lines, 1)), encoding="utf-8")
            emptied += len(drop)
    return emptied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, default=REPO / "evals" / "golden" / "seeds.jsonl")
    parser.add_argument("--corpus", type=Path, default=REPO / "seeds")
    parser.add_argument("--limit", type=int, default=None, help="the first N questions only")
    parser.add_argument("--ids", default=None, help="only these question ids (comma-separated)")
    parser.add_argument("--out", type=Path, default=None, help="write one JSON record per question here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from rag.evaluation.golden import load_golden
    from rag.service import RagService
    from rag.settings import load_settings

    questions = [q for q in load_golden(args.golden) if q.answerable and any(e.lines for e in q.evidence)]
    if args.ids:
        questions = [q for q in questions if q.id in set(args.ids.split(","))]
    questions = questions[: args.limit] if args.limit else questions
    service = RagService(load_settings())
    records = []
    with tempfile.TemporaryDirectory(prefix="negative-rejection-") as scratch:
        for i, golden in enumerate(questions):
            corpus = Path(scratch) / f"corpus-{i}"
            emptied = without_answer(args.corpus, golden, corpus)
            over = service.over_index(Path(scratch) / f"index-{i}", f"negative_{i}")
            over.index([corpus], progress=False)
            answer = over.ask(golden.question)
            records.append({
                "id": golden.id, "question": golden.question, "lines_emptied": emptied, "status": answer.status,
                "refused": answer.status != "answered", "answer": answer.answer,
                "citations": [f"{c.source}:{c.start_line}" for c in answer.citations],
                "sentences": [s.model_dump(exclude_none=True) for s in answer.sentences],
                "checks": [c.checks for c in answer.citations],
                "total_ms": answer.timings_ms.get("total"),
            })
            print(f"{i + 1}/{len(questions)} {golden.id} {answer.status}", file=sys.stderr)
            shutil.rmtree(corpus)
    refused = sum(r["refused"] for r in records)
    summary = {
        "golden": str(args.golden), "questions": len(records),
        "refused": round(refused / len(records), 4) if records else None,
        "outcomes": dict(Counter(r["status"] for r in records)),
        "answered": [f"{r['id']}: {r['question']} -> {r['answer'][:160]} {r['citations']}" for r in records if not r["refused"]],
    }
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return 0
    print(f"{summary['questions']} answerable questions of {args.golden.name}, asked with their answer taken out")
    print(f"refused: {summary['refused']}  outcomes: {summary['outcomes']}")
    for line in summary["answered"]:
        print(f"  answered: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
