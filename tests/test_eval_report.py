"""rag.evaluation.report: files written, charts valid, comparisons flag regressions."""

from __future__ import annotations

import copy
import json

import pytest

from rag.errors import InputError
from rag.evaluation.aggregate import build_report
from rag.evaluation.golden import GoldenQuestion
from rag.evaluation.scoring import score_question
from rag.evaluation.report import compare_reports, has_regression, load_report, write_report

SRC = "002_9fd4f84746180eec.txt"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _golden(qid: str, qtype: str | None, answerable: bool = True, line: int = 6, answers=("¥48.9 billion",)):
    return GoldenQuestion.model_validate(
        {
            "id": qid,
            "question": f"question {qid}?",
            "answers": list(answers) if answerable else [],
            "evidence": [{"source": SRC, "lines": [line, line]}] if answerable else [],
            "answerable": answerable,
            "type": qtype,
        }
    )


def _passage(line: int) -> dict:
    return {"source": SRC, "start_line": line, "end_line": line, "text": "t", "score": 0.5}


def _answer(text: str, answerable: bool = True, cite_line: int | None = 6, total: float = 100.0) -> dict:
    citations = [] if cite_line is None else [{"source": SRC, "start_line": cite_line, "end_line": cite_line, "quote": "q", "verified": True}]
    return {
        "answer": text,
        "answerable": answerable,
        "status": "answered" if answerable else "declined",
        "citations": citations if answerable else [],
        "model": "test/model",
        "timings_ms": {"retrieve": total * 0.1, "generate": total * 0.9, "total": total},
    }


@pytest.fixture
def report() -> dict:
    records = [
        score_question(_golden("q1", "numeric"), [_passage(6)], _answer("¥48.9 billion [x:6]"), k=5),
        score_question(_golden("q2", "numeric"), [_passage(1)], _answer("¥12 billion", cite_line=1, total=250.0), k=5),
        score_question(_golden("q3", "entity", answers=("Eddie Wu",), line=3), [_passage(3)], _answer("No answer.", answerable=False, total=40.0), k=5),
        score_question(_golden("q4", None, answerable=False), [_passage(2)], _answer("Not in the documents.", answerable=False, total=30.0), k=5),
    ]
    return build_report(records, k=5, retrieval_only=False, golden="evals/golden/test.jsonl")


def test_write_report_writes_files_and_valid_pngs(tmp_path, report):
    out = tmp_path / "reports" / "latest"
    paths = write_report(report, out)
    names = {p.name for p in paths}
    assert names == {"report.json", "summary.md", "metrics_by_type.png", "latency.png"}
    assert all(p.parent == out and p.is_file() for p in paths)
    for name in ("metrics_by_type.png", "latency.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["metrics"] == json.loads(json.dumps(report["metrics"]))
    assert saved["k"] == 5 and len(saved["questions"]) == 4
    assert "comparison" not in saved

    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| metric | value |" in md
    for title in ("hit@k", "answer accuracy", "citation precision (gold)", "refusal accuracy", "latency p95 (ms)"):
        assert f"| {title} |" in md
    assert "## By question type" in md and "| numeric |" in md
    assert "worst questions" in md
    # the worst questions come first: the wrong answer and the false refusal
    worst_section = md.split("worst questions", 1)[1]
    assert worst_section.index("q2") < worst_section.index("q1") or "### q1" not in worst_section
    assert f"[{SRC}:1]" in worst_section  # what was retrieved
    assert "¥12 billion" in worst_section  # the answer
    assert "REGRESSION" not in md


def test_write_report_retrieval_only(tmp_path):
    records = [
        score_question(_golden("q1", "numeric"), [_passage(6)], None, k=5, timings_ms={"retrieve": 12.0, "total": 12.0}),
        score_question(_golden("q2", "entity"), [_passage(1)], None, k=5, timings_ms={"retrieve": 20.0, "total": 20.0}),
    ]
    report = build_report(records, k=5, retrieval_only=True)
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} == {"report.json", "summary.md", "metrics_by_type.png", "latency.png"}
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| hit@k | 0.500 |" in md
    assert "answer accuracy" not in md
    assert (tmp_path / "metrics_by_type.png").read_bytes()[:8] == PNG_MAGIC


def test_write_report_without_latencies_skips_latency_chart(tmp_path):
    records = [score_question(_golden("q1", None), [_passage(6)], None, k=5)]
    report = build_report(records, k=5, retrieval_only=True)
    (tmp_path / "latency.png").write_bytes(PNG_MAGIC)  # stale chart from an earlier run
    paths = write_report(report, tmp_path)
    assert "latency.png" not in {p.name for p in paths}
    assert not (tmp_path / "latency.png").exists()


def test_compare_flags_regressions_not_improvements(report):
    previous = copy.deepcopy(report)
    current = copy.deepcopy(report)
    pm, cm = previous["metrics"], current["metrics"]
    pm["hit_at_k"], cm["hit_at_k"] = 0.80, 0.70  # worse by 0.10 -> regression
    pm["mrr"], cm["mrr"] = 0.50, 0.60  # better -> no flag
    pm["recall_at_k"], cm["recall_at_k"] = 0.80, 0.79  # within tolerance
    pm["false_refusal_rate"], cm["false_refusal_rate"] = 0.10, 0.00  # better
    pm["refusal_accuracy"], cm["refusal_accuracy"] = 1.0, None  # missing -> no flag
    pm["latency_p50_ms"], cm["latency_p50_ms"] = 100.0, 115.0  # +15% -> within tolerance
    pm["latency_p95_ms"], cm["latency_p95_ms"] = 100.0, 130.0  # +30% -> regression
    rows = {r["metric"]: r for r in compare_reports(current, previous)}
    assert rows["hit_at_k"]["regression"] is True and rows["hit_at_k"]["delta"] == pytest.approx(-0.10)
    assert rows["mrr"]["regression"] is False and rows["mrr"]["delta"] == pytest.approx(0.10)
    assert rows["recall_at_k"]["regression"] is False
    assert rows["false_refusal_rate"]["regression"] is False
    assert rows["refusal_accuracy"]["regression"] is False and rows["refusal_accuracy"]["delta"] is None
    assert rows["latency_p50_ms"]["regression"] is False
    assert rows["latency_p95_ms"]["regression"] is True
    assert set(rows["hit_at_k"]) >= {"metric", "previous", "current", "delta", "regression"}
    assert has_regression(list(rows.values()))

    # false refusals rising is a regression; bare metrics dicts work too
    rows = {r["metric"]: r for r in compare_reports({"false_refusal_rate": 0.2}, {"false_refusal_rate": 0.1})}
    assert rows["false_refusal_rate"]["regression"] is True
    assert not has_regression(compare_reports(report, report))


def test_write_report_with_previous_shows_comparison(tmp_path, report):
    previous = copy.deepcopy(report)
    previous["metrics"]["answer_accuracy"] = 0.9  # current is 0.333 -> regression
    previous["metrics"]["hit_at_k"] = 0.5  # current is better
    write_report(report, tmp_path, previous=previous)
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "## Comparison with previous report" in md
    acc_row = next(line for line in md.splitlines() if line.startswith("| answer accuracy |") and line.count("|") == 6)
    assert acc_row.rstrip().endswith("REGRESSION |")
    hit_row = next(line for line in md.splitlines() if line.startswith("| hit@k |") and line.count("|") == 6)
    assert "REGRESSION" not in hit_row
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    flagged = [r["metric"] for r in saved["comparison"] if r["regression"]]
    assert flagged == ["answer_accuracy"]

    assert load_report(tmp_path)["k"] == 5
    assert load_report(tmp_path / "report.json")["metrics"] == saved["metrics"]
    with pytest.raises(InputError):
        load_report(tmp_path / "nope.json")


# ---------------------------------------------------------------- metrics version 2


def _error_answer(status: str = "model_unavailable") -> dict:
    return {**_answer("The model is unavailable.", answerable=False, total=20.0), "status": status}


@pytest.fixture
def report_v2() -> dict:
    rich = {
        "source": SRC,
        "start_line": 6,
        "end_line": 6,
        "quote": "q",
        "verified": True,
        "repaired": True,
        "support": 0.9,
        "spans": [{"line": 6, "start_char": 0, "end_char": 12}],
        "checks": {"states": 0.93, "answers": 0.88},
    }
    wrong = {**_answer("¥12 billion", cite_line=1), "citations": [rich, {**rich, "start_line": 1, "end_line": 1, "repaired": False}]}
    records = [
        score_question(_golden("q1", "numeric"), [_passage(6)], _answer("¥48.9 billion [x:6]"), k=5),
        score_question(_golden("q2", "numeric"), [_passage(1)], wrong, k=5),
        score_question(_golden("q3", "entity"), [_passage(6)], _error_answer(), k=5),
        score_question(_golden("q4", None, answerable=False), [_passage(2)], {**_answer("No.", answerable=False), "status": "unverified"}, k=5),
        score_question(_golden("q5", None, answerable=False), [_passage(2)], {**_answer("No.", answerable=False), "status": "not_found"}, k=5),
    ]
    return build_report(records, k=5, retrieval_only=False)


def test_summary_v2_metrics_outcomes_and_citation_details(tmp_path, report_v2):
    paths = write_report(report_v2, tmp_path)
    assert {p.name for p in paths} == {"report.json", "summary.md", "metrics_by_type.png", "latency.png"}
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "verified)" not in md.split("## By question type")[0]  # no "citation precision (verified)" row
    for title in (
        "citation recall (gold spans)",
        "citation hit rate",
        "error rate",
        "answerable refused",
        "unanswerable refused",
        "refused: not in documents",
        "refused: unverified",
    ):
        assert f"| {title} |" in md, title
    assert "| error rate | 0.200 |" in md
    assert "| answer accuracy | 0.500 |" in md  # q3's model failure is not a wrong answer
    assert "### Outcomes (questions)" in md
    assert "| answerable | 1 | 0 | 0 | 1 |" not in md  # q1 and q2 answered
    assert "| answerable | 2 | 0 | 0 | 1 |" in md
    assert "| unanswerable | 0 | 1 | 1 | 0 |" in md
    assert "3 citations, 1 of them repaired" in md
    worst = md.split("worst questions", 1)[1]
    assert "an error" in worst and "the model was unavailable" in worst
    assert "repaired" in worst and "states 0.930" in worst
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert saved["metrics_version"] == 2
    cit = saved["questions"][1]["citations"][0]
    assert cit["repaired"] is True and cit["spans"] == [{"line": 6, "start_char": 0, "end_char": 12}]
    assert cit["checks"] == {"states": 0.93, "answers": 0.88}


def test_compare_with_a_version_1_report(report_v2):
    old = {
        "metrics": {
            "hit_at_k": 0.5,
            "answer_accuracy": 0.5,
            "citation_recall": 1.0,  # v1: the any-hit rate
            "citation_precision_verified": 1.0,
            "refusal_accuracy": 1.0,
            "false_refusal_rate": 0.0,
        },
        "k": 5,
        "questions": [],
    }
    rows = {r["metric"]: r for r in compare_reports(report_v2, old)}
    assert "citation_precision_verified" not in rows
    # citation_recall changed meaning: shown, never compared
    assert rows["citation_recall"]["delta"] is None and rows["citation_recall"]["regression"] is False
    assert "version 2" in rows["citation_recall"]["note"]
    # the v2 hit rate is compared with the v1 citation_recall
    assert rows["citation_hit_rate"]["previous"] == 1.0 and rows["citation_hit_rate"]["current"] == 1.0
    assert rows["citation_hit_rate"]["delta"] == 0.0 and "citation_recall" in rows["citation_hit_rate"]["note"]
    lower = copy.deepcopy(report_v2)
    lower["metrics"]["citation_hit_rate"] = 0.5
    assert {r["metric"]: r for r in compare_reports(lower, old)}["citation_hit_rate"]["regression"] is True
    assert rows["answerable_refused"]["previous"] == 0.0
    assert rows["error_rate"]["previous"] is None and rows["error_rate"]["regression"] is False

    # a v1 report with model failures: refusal and accuracy metrics are not comparable
    old["questions"] = [{"id": "x", "status": "model_unavailable"}]
    rows = {r["metric"]: r for r in compare_reports(report_v2, old)}
    for metric in ("answer_accuracy", "refusal_accuracy", "false_refusal_rate", "citation_hit_rate"):
        assert rows[metric]["delta"] is None and rows[metric]["note"], metric
    assert rows["hit_at_k"]["delta"] == pytest.approx(0.1667)  # retrieval compares across versions

    # two v2 reports compare everything directly; rising errors are a regression
    worse = copy.deepcopy(report_v2)
    worse["metrics"]["error_rate"] = 0.5
    worse["metrics"]["refused_unverified"] = 0.9  # informational only
    rows = {r["metric"]: r for r in compare_reports(worse, report_v2)}
    assert rows["error_rate"]["regression"] is True and rows["error_rate"]["note"] is None
    assert rows["refused_unverified"]["regression"] is False
    assert rows["citation_recall"]["delta"] == 0.0


def test_summary_comparison_notes(tmp_path, report_v2):
    old = {"metrics": {"citation_recall": 1.0, "answer_accuracy": 0.5}, "k": 5, "questions": []}
    write_report(report_v2, tmp_path, previous=old)
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| citation recall (gold spans) |") and line.count("|") == 6)
    assert "[1]" in row and "REGRESSION" not in row
    assert "[1] definition changed" in md
