"""The claim check's precision and recall on hand-labelled (question, claim, cited line) pairs.

    .venv/bin/python evals/claim_check.py [--pairs evals/golden/claims.jsonl] [--limit N] [--json] [--dump FILE]

Each pair (evals/golden/claims.jsonl, over seeds/) is labelled `supported` (the cited line states
the claim), `contradicted` (the line says something that conflicts with it) or `unrelated` (the line
does not talk about it), and says whether the claim answers its question (`answers`: true, false or
null). The real ClaimChecker is built from the settings as rag.answer.Answerer builds it (same
thresholds, same judge model; the default is the local model, loaded in this process). For every
pair it runs `states` on the cited line (rag.check.find_evidence) with the whole document, and
`answers` where `answers` is not null.

Printed: the share judged stated by label; precision and recall of "stated" (positive = supported);
the share of contradicted and unrelated pairs let through (by kind of mistake too); the answers
check's accuracy for true and false; what decided each verdict (a rule, the verbatim path or the
judge); the judge's pass rates at other thresholds; seconds per pair; the pairs judged wrongly.
`--dump FILE` writes one JSON record per pair (label, rule reason, the judge's probabilities,
what decided), to tune the thresholds from; `--json` prints the summary as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.check import ClaimChecker, ClaimJudge, find_evidence
from rag.chunker import document_title
from rag.citations import ContextLine
from rag.embedder import Embedder
from rag.loaders import split_lines
from rag.settings import Settings, load_settings
from rag.text import DocumentFrequencies

LABELS = ("supported", "contradicted", "unrelated")
SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class RecordingJudge(ClaimJudge):
    """The real judge, remembering the probability of each question it is asked (cleared per pair)."""

    def __init__(self, llm, prompts_dir: Path):
        super().__init__(llm, prompts_dir)
        self.asked: dict[str, float] = {}

    def states(self, question: str, claim: str, source_text: str) -> float:
        self.asked["states"] = super().states(question, claim, source_text)
        return self.asked["states"]

    def answers(self, question: str, lines: list[ContextLine]) -> float:
        self.asked["answers"] = super().answers(question, lines)
        return self.asked["answers"]


def build_checker(settings: Settings) -> tuple[ClaimChecker, RecordingJudge]:
    """The checker as RagService/Answerer build it: the judge is `judge_model`, or the answering model."""
    from rag.llm.client import LLMClient

    judge_settings = settings.model_copy(update={"llm_model": settings.judge_model}) if settings.judge_model else settings
    llm = LLMClient(judge_settings)
    llm.warm_up()
    judge = RecordingJudge(llm, settings.prompts_dir)
    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size, cache_dir=settings.model_cache_dir)
    checker = ClaimChecker.from_settings(settings, judge, embedder.encode)
    return checker, judge


def load_pairs(path: Path, limit: int | None) -> list[dict]:
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pairs[:limit] if limit else pairs


def check_pair(checker: ClaimChecker, judge: RecordingJudge, pair: dict, documents: dict[str, list[str]],
               frequencies: DocumentFrequencies) -> dict:
    """Run states (and answers, where labelled) on one pair, as the service does (the document's title,
    the corpus's word frequencies); what decided each and how long it took."""
    lines = documents[pair["source"]]
    title = document_title(lines) or ""
    judge.asked = {}
    started = time.perf_counter()
    evidence = find_evidence(pair["claim"], pair["source"], pair["line"], lines[pair["line"] - 1])
    verdict = checker.states(pair["question"], pair["claim"], [evidence], "\n".join(lines), title)
    # A claim shown as its line's own sentence instead (it restated the line in the question's words)
    # is not itself stated: the service shows the line's words, not the claim's.
    record = {
        "id": pair["id"], "label": pair["label"], "mistake": pair.get("mistake"), "answers": pair["answers"],
        "stated": verdict.stated and not verdict.restated,
        "restated": verdict.restated,
        "states_decided_by": "judge" if "states" in judge.asked else "restated" if verdict.restated
        else "rule" if verdict.reason else "verbatim",
        "rule_reason": None if "states" in judge.asked else verdict.reason,
        "p_states": judge.asked.get("states"),
    }
    if pair["answers"] is not None:
        line = ContextLine(pair["source"], pair["line"], evidence.text.strip())
        judged = checker.answers(pair["question"], pair["claim"], [line], f"{evidence.text}\n{title}", frequencies)
        record.update(answered=judged.answers, answers_decided_by="judge" if "answers" in judge.asked else "rule",
                      answers_rule_reason=None if "answers" in judge.asked else judged.reason, p_answers=judge.asked.get("answers"))
    record["seconds"] = round(time.perf_counter() - started, 3)
    record["claim"] = pair["claim"]
    return record


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def summarize(records: list[dict], settings: Settings) -> dict:
    by_label = {label: [r for r in records if r["label"] == label] for label in LABELS}
    true_pos = sum(r["stated"] for r in by_label["supported"])
    passed = sum(r["stated"] for r in records)
    answered = [r for r in records if r["answers"] is not None]
    judged = [r for r in records if r["p_states"] is not None]
    seconds = [r["seconds"] for r in records]
    return {
        "pairs": len(records),
        "thresholds": {"states": settings.claim_states_threshold, "answers": settings.claim_answers_threshold,
                       "verbatim_coverage": settings.claim_verbatim_coverage},
        "by_label": {label: {"n": len(rows), "stated": _share(sum(r["stated"] for r in rows), len(rows))}
                     for label, rows in by_label.items()},
        "precision": _share(true_pos, passed),
        "recall": _share(true_pos, len(by_label["supported"])),
        "passed_contradicted": _share(sum(r["stated"] for r in by_label["contradicted"]), len(by_label["contradicted"])),
        "passed_unrelated": _share(sum(r["stated"] for r in by_label["unrelated"]), len(by_label["unrelated"])),
        "passed_contradicted_by_mistake": {
            kind: f"{sum(r['stated'] for r in by_label['contradicted'] if r['mistake'] == kind)}/{n}"
            for kind, n in sorted(Counter(r["mistake"] for r in by_label["contradicted"]).items(), key=str)
        },
        "answers_accuracy": {
            str(expected).lower(): {"n": len(rows), "correct": _share(sum(r["answered"] == expected for r in rows), len(rows))}
            for expected in (True, False)
            for rows in [[r for r in answered if r["answers"] is expected]]
        },
        "states_decided_by": dict(Counter(r["states_decided_by"] for r in records)),
        "restated_by_label": dict(Counter(r["label"] for r in records if r["restated"])),
        "restated": [f"{r['id']} {r['label']}: {r['claim'][:60]} -> {r['restated'][:80]}" for r in records if r["restated"]],
        "answers_decided_by": dict(Counter(r["answers_decided_by"] for r in answered)),
        "judge_sweep": [_sweep_row(judged, threshold) for threshold in SWEEP],
        "seconds_per_pair": {"mean": round(statistics.fmean(seconds), 2) if seconds else None,
                             "p50": round(statistics.median(seconds), 2) if seconds else None},
        "wrong": [_wrong(r) for r in records if _is_wrong(r)],
    }


def _sweep_row(judged: list[dict], threshold: float) -> dict:
    """Among the pairs that reached the judge: what a states threshold of `threshold` would let through."""
    row = {"threshold": threshold}
    for label in LABELS:
        rows = [r for r in judged if r["label"] == label]
        row[label] = f"{sum(r['p_states'] >= threshold for r in rows)}/{len(rows)}"
    return row


def _is_wrong(r: dict) -> bool:
    return r["stated"] != (r["label"] == "supported") or (r["answers"] is not None and r["answered"] != r["answers"])


def _wrong(r: dict) -> str:
    parts = []
    if r["stated"] != (r["label"] == "supported"):
        parts.append(f"states={r['stated']} by {r['states_decided_by']}" + (f" p={r['p_states']}" if r["p_states"] is not None else ""))
    if r["answers"] is not None and r["answered"] != r["answers"]:
        parts.append(f"answers={r['answered']} by {r['answers_decided_by']}" + (f" p={r['p_answers']}" if r["p_answers"] is not None else ""))
    return f"{r['id']} {r['label']}: {'; '.join(parts)} | {r['claim'][:70]}"


def print_report(summary: dict) -> None:
    def pct(value):
        return "  -  " if value is None else f"{value:5.0%}"

    print(f"{summary['pairs']} pairs; thresholds {summary['thresholds']}\n")
    print(f"{'label':<14}{'n':>4}  judged stated")
    for label, row in summary["by_label"].items():
        print(f"{label:<14}{row['n']:>4}  {pct(row['stated'])}")
    print(f"\nstated: precision {pct(summary['precision'])}  recall {pct(summary['recall'])}  (positive = supported)")
    print(f"passed as stated: contradicted {pct(summary['passed_contradicted'])}  unrelated {pct(summary['passed_unrelated'])}")
    print(f"  contradicted passed, by mistake: {summary['passed_contradicted_by_mistake']}")
    accuracy = summary["answers_accuracy"]
    print(f"answers check: correct on answers=true {pct(accuracy['true']['correct'])} (n={accuracy['true']['n']}),"
          f" on answers=false {pct(accuracy['false']['correct'])} (n={accuracy['false']['n']})")
    print(f"states decided by: {summary['states_decided_by']}; answers decided by: {summary['answers_decided_by']}")
    print(f"shown as the line's own sentence instead (not counted as stated): {summary['restated_by_label']}")
    for line in summary["restated"]:
        print(f"  {line}")
    print("judge sweep (pairs that reached the judge, let through at each states threshold):")
    for row in summary["judge_sweep"]:
        print(f"  >= {row['threshold']:.1f}: " + "  ".join(f"{label} {row[label]}" for label in LABELS))
    seconds = summary["seconds_per_pair"]
    print(f"seconds per pair: mean {seconds['mean']}  p50 {seconds['p50']}")
    if summary["wrong"]:
        print(f"\njudged wrongly ({len(summary['wrong'])}):")
        for line in summary["wrong"]:
            print(f"  {line}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=ROOT / "evals" / "golden" / "claims.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds", help="folder holding the pairs' sources")
    ap.add_argument("--limit", type=int, default=None, help="the first N pairs only")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--dump", type=Path, default=None, help="write per-pair records (JSON Lines) here")
    args = ap.parse_args()

    pairs = load_pairs(args.pairs, args.limit)
    documents = {path.name: split_lines(path.read_text(encoding="utf-8")) for path in sorted(args.corpus.glob("*.txt"))}
    frequencies = DocumentFrequencies("\n".join(lines) for lines in documents.values())
    settings = load_settings()
    started = time.perf_counter()
    checker, judge = build_checker(settings)
    judge.warm_up()  # as the service does: the judge's instructions enter the prompt cache before the first pair
    print(f"judge {judge.llm.model} ready in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    records = []
    for number, pair in enumerate(pairs, 1):
        records.append(check_pair(checker, judge, pair, documents, frequencies))
        print(f"\r{number}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    if args.dump:
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        args.dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    summary = summarize(records, settings)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
