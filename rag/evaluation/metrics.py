"""Evaluation metrics for golden question sets: pure functions, no models.

The flow a runner follows (see evals/README.md, "Metrics", for the definitions):

    golden = load_golden("evals/golden/seeds.jsonl")
    records = [score_question(g, passages_for(g), answer_for(g), k=5) for g in golden]
    report = build_report(records, k=5, retrieval_only=False)

`score_question` computes every per-question field; `aggregate` turns the
records into the report's `metrics` object. A metric whose denominator is
empty (for example refusal accuracy without unanswerable questions) is None,
never 0.

Outcomes: every scored answer is exactly one of "answered", "refused" (status
not_found / declined / unverified, or answerable false) or "error" (status
model_unavailable, or the runner's "error" for an exception while answering).
Errors are not refusals: they count in `error_rate` only and are left out of
the answer, refusal and citation metrics.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Sequence, TypedDict

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from rag.errors import InputError
from rag.text import citation_label, strip_markers

__all__ = [
    "Evidence",
    "GoldenQuestion",
    "QuestionRecord",
    "load_golden",
    "parse_golden_line",
    "span_overlaps",
    "overlaps_any",
    "retrieval_scores",
    "hit_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "normalize_answer",
    "token_f1",
    "answer_score",
    "answer_correct",
    "citation_scores",
    "answer_outcome",
    "percentile",
    "total_latency",
    "latency_stats",
    "score_question",
    "aggregate",
    "build_report",
    "REPORT_METRIC_KEYS",
    "RETRIEVAL_METRIC_KEYS",
    "EXTRA_ANSWER_METRIC_KEYS",
    "METRICS_VERSION",
    "ERROR_STATUSES",
    "NOT_IN_DOCUMENTS_STATUSES",
    "UNVERIFIED_STATUSES",
    "SHORT_ANSWER_MAX_TOKENS",
    "LONG_ANSWER_F1_THRESHOLD",
]

#: References with at most this many normalised tokens are matched by containment.
SHORT_ANSWER_MAX_TOKENS = 6
#: Longer references are matched when token F1 reaches this value.
LONG_ANSWER_F1_THRESHOLD = 0.5

#: The `metrics` keys the INTERFACE report promises, in order.
REPORT_METRIC_KEYS = (
    "hit_at_k",
    "recall_at_k",
    "mrr",
    "answer_accuracy",
    "citation_precision",
    "citation_recall",
    "refusal_accuracy",
    "false_refusal_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
RETRIEVAL_METRIC_KEYS = ("hit_at_k", "recall_at_k", "mrr")
#: Further answer metrics of a full run, after the INTERFACE keys, in order.
EXTRA_ANSWER_METRIC_KEYS = (
    "answer_f1",
    "citation_hit_rate",
    "error_rate",
    "answerable_refused",
    "unanswerable_refused",
    "refused_not_in_documents",
    "refused_unverified",
)
#: Version of the metric definitions; reports without `metrics_version` used version 1
#: (citation_recall was an any-hit rate, model failures counted as refusals).
METRICS_VERSION = 2
#: Answer statuses that are failures, not refusals ("error": an exception while answering).
ERROR_STATUSES = ("model_unavailable", "error")
#: Refusals saying the documents do not hold the answer.
NOT_IN_DOCUMENTS_STATUSES = ("not_found", "declined")
#: Refusals because no claim of the draft answer could be verified.
UNVERIFIED_STATUSES = ("unverified",)
UNTYPED = "untyped"


# --------------------------------------------------------------------------- golden file


class Evidence(BaseModel):
    """A span supporting the answer; `lines` None means anywhere in `source` (or in `page` of it).

    `page` (1-based) is set for paged documents (PDF); then `lines` are numbered within that page.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str
    lines: tuple[int, int] | None = None
    page: int | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        value = _norm_source(value)
        if not value:
            raise ValueError("evidence source is empty")
        return value

    @field_validator("lines", mode="before")
    @classmethod
    def _lines_before(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value, value)
        return value

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return None
        start, end = value
        if start < 1 or end < start:
            raise ValueError(f"evidence lines must be 1-based with start <= end, got [{start}, {end}]")
        return value

    @field_validator("page")
    @classmethod
    def _page(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"evidence page must be 1-based, got {value}")
        return value

    @property
    def label(self) -> str:
        start, end = self.lines or (None, None)
        return citation_label(self.source, start, end, self.page)


class GoldenQuestion(BaseModel):
    """One line of a golden JSON Lines file (shared INTERFACE.md)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    question: str
    answers: list[str] = []
    evidence: list[Evidence] = []
    answerable: bool = True
    type: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not value.strip():
            raise ValueError("id is empty")
        return value

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty")
        return value

    @field_validator("answers")
    @classmethod
    def _answers(cls, value: list[str]) -> list[str]:
        return [a for a in value if a.strip()]

    @model_validator(mode="after")
    def _consistent(self) -> "GoldenQuestion":
        if not self.answerable and (self.answers or self.evidence):
            raise ValueError("an unanswerable question (answerable: false) must have empty answers and evidence")
        return self


def parse_golden_line(line: str, *, path: str | Path = "<golden>", line_no: int = 1) -> GoldenQuestion:
    """Parse one JSON line; raises InputError naming `path:line_no`."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{line_no}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}:{line_no}: expected a JSON object, got {type(data).__name__}")
    try:
        return GoldenQuestion.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}" for err in exc.errors()
        )
        raise InputError(f"{path}:{line_no}: invalid golden question ({problems})") from None


def load_golden(path: str | Path) -> list[GoldenQuestion]:
    """Read a golden JSON Lines file. Blank lines and lines starting with `#` are skipped.

    Raises InputError naming the file (and line number) for a missing file, a
    line that is not valid JSON or not a valid question, a duplicate id, or a
    file with no questions.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"golden file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read golden file {path}: {exc}") from None
    questions: list[GoldenQuestion] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        question = parse_golden_line(stripped, path=path, line_no=line_no)
        if question.id in seen:
            raise InputError(f"{path}:{line_no}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = line_no
        questions.append(question)
    if not questions:
        raise InputError(f"golden file {path} holds no questions")
    return questions


# --------------------------------------------------------------------------- spans


def _norm_source(source: str) -> str:
    source = str(source).strip().replace("\\", "/")
    while source.startswith("./"):
        source = source[2:]
    return source


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _as_evidence(evidence: Evidence | dict) -> Evidence:
    return evidence if isinstance(evidence, Evidence) else Evidence.model_validate(evidence)


def span_overlaps(
    evidence: Evidence | dict, source: str, start_line: int, end_line: int, page: int | None = None
) -> bool:
    """True when [start_line, end_line] of `source` shares at least one line with the evidence.

    Evidence with `lines` None matches any span of the same source. Sources are
    compared after normalising `\\` to `/` and dropping a leading `./`. When
    both the evidence and the span carry a `page`, the pages must be equal too
    (lines are numbered within a page); when either has none, pages are not compared.
    """
    ev = _as_evidence(evidence)
    if ev.source != _norm_source(source):
        return False
    if ev.page is not None and page is not None and int(page) != ev.page:
        return False
    if ev.lines is None:
        return True
    gold_start, gold_end = ev.lines
    lo, hi = (start_line, end_line) if start_line <= end_line else (end_line, start_line)
    return lo <= gold_end and gold_start <= hi


def _page_of(item: Any) -> int | None:
    return _optional_number(_get(item, "page"), int)


def _span_of(item: Any) -> tuple[str, int, int, int | None]:
    """(source, start_line, end_line, page) of a passage or citation (dict or object)."""
    return (
        str(_get(item, "source", "")),
        int(_get(item, "start_line", 0) or 0),
        int(_get(item, "end_line", 0) or 0),
        _page_of(item),
    )


def overlaps_any(item: Any, evidence: Sequence[Evidence | dict]) -> bool:
    """True when a passage or citation (dict or object with source/start_line/end_line[/page]) overlaps any gold span."""
    span = _span_of(item)
    return any(span_overlaps(ev, *span) for ev in evidence)


# --------------------------------------------------------------------------- retrieval


def retrieval_scores(passages: Sequence[Any], evidence: Sequence[Evidence | dict], k: int | None = None) -> dict:
    """hit, recall and reciprocal_rank of the top-k passages against the gold spans.

    All three are None when there is no evidence (nothing to find).
    """
    evidence = [_as_evidence(ev) for ev in evidence]
    top = list(passages if k is None else passages[:k])
    if not evidence:
        return {"hit": None, "recall": None, "reciprocal_rank": None}
    spans = [_span_of(p) for p in top]
    found = [any(span_overlaps(ev, *span) for span in spans) for ev in evidence]
    rr = 0.0
    for rank, span in enumerate(spans, start=1):
        if any(span_overlaps(ev, *span) for ev in evidence):
            rr = 1.0 / rank
            break
    return {"hit": any(found), "recall": sum(found) / len(evidence), "reciprocal_rank": rr}


def hit_at_k(passages: Sequence[Any], evidence: Sequence[Evidence | dict], k: int | None = None) -> bool | None:
    return retrieval_scores(passages, evidence, k)["hit"]


def recall_at_k(passages: Sequence[Any], evidence: Sequence[Evidence | dict], k: int | None = None) -> float | None:
    return retrieval_scores(passages, evidence, k)["recall"]


def reciprocal_rank(passages: Sequence[Any], evidence: Sequence[Evidence | dict], k: int | None = None) -> float | None:
    return retrieval_scores(passages, evidence, k)["reciprocal_rank"]


# --------------------------------------------------------------------------- answers

_CURRENCY_SYMBOL_RE = re.compile(r"\b(?:us|hk|nt|rmb)\s?\$|[$¥€£₹]")
_CURRENCY_WORD_RE = re.compile(
    r"\b(?:us\s+dollars?|u\.s\.\s+dollars?|dollars?|usd|hkd|rmb|renminbi|yuan|cny|euros?|eur|gbp)\b"
)
_SCALES = {
    "thousand": Decimal(10) ** 3,
    "k": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "mln": Decimal(10) ** 6,
    "m": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "bln": Decimal(10) ** 9,
    "b": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
    "tn": Decimal(10) ** 12,
    "trn": Decimal(10) ** 12,
    "t": Decimal(10) ** 12,
}
# A number with thousands separators or decimals, then an optional scale: a word
# (with or without a space: "48.9 billion", "48.9bn") or one letter written
# straight after the digits ("48.9b", "10k").
_NUMBER_RE = re.compile(
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*(?P<word>thousand|million|billion|trillion|mln|mn|bln|bn|trn|tn)\b|(?P<letter>[kmbt])\b)?"
)
_ARTICLES = {"a", "an", "the"}
_SCALE_WORDS = "thousand|million|billion|trillion|mln|mn|bln|bn|trn|tn"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
# "60-65 billion", "$60-$65 billion", "60 to 65 billion": the scale applies to both ends.
_RANGE_RE = re.compile(
    rf"(?<![\w.])(?P<a>{_NUM})\s*(?:-|–|—|to)\s*(?P<b>{_NUM})\s*(?P<word>{_SCALE_WORDS})\b"
)
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_WORD_NUMBER_RE = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-]+(?P<unit>{'|'.join(w for w in _UNITS if 0 < _UNITS[w] < 10)}))?"
    rf"|(?P<small>{'|'.join(_UNITS)}))\b"
)


def _word_number(match: re.Match) -> str:
    if match.group("small"):
        return str(_UNITS[match.group("small")])
    return str(_TENS[match.group("tens")] + (_UNITS[match.group("unit")] if match.group("unit") else 0))


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _canonical_range(match: re.Match) -> str:
    scale = _SCALES[match.group("word")]
    a = Decimal(match.group("a").replace(",", "")) * scale
    b = Decimal(match.group("b").replace(",", "")) * scale
    return f" {_plain_number(a)} to {_plain_number(b)} "


def _canonical_number(match: re.Match) -> str:
    raw = match.group("num").replace(",", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex only admits digits
        return match.group(0)
    scale = match.group("word") or match.group("letter")
    if scale:
        value *= _SCALES[scale]
    return f" {_plain_number(value)} "


def normalize_answer(text: str) -> str:
    """Normalise an answer for comparison; returns space-joined tokens.

    Unicode NFKC, lowercase; citation markers like `[a.txt:6]` removed;
    currency symbols and words ($, US$, ¥, €, £, yuan, RMB, CNY, dollars, USD,
    euros ...) removed, so figures compare by value whatever the currency
    notation; `%` and "per cent" become "percent"; numbers are rewritten as
    plain decimals with thousands separators dropped and scale words applied
    ("48.9 billion", "48.9bn", "48.9b", "48,900 million" all become
    "48900000000"; "1.50" becomes "1.5"); apostrophes are dropped ("Alibaba's"
    -> "alibabas"); number words up to ninety-nine become digits ("fifty-three
    billion" -> "53000000000", "nine percent" -> "9 percent"); a range with one
    scale word scales both ends ("$60-$65 billion" and "$60 billion to $65
    billion" -> "60000000000 to 65000000000"); other punctuation becomes a space (a decimal point between
    digits is kept); the articles a/an/the are removed; whitespace is unified.
    """
    if not text:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = strip_markers(s)
    s = s.replace("’", "'").replace("‘", "'").replace("`", "'")
    s = re.sub(r"'", "", s)
    s = _CURRENCY_SYMBOL_RE.sub(" ", s)
    s = _CURRENCY_WORD_RE.sub(" ", s)
    s = re.sub(r"\bper\s+cent\b", " percent ", s)
    s = s.replace("%", " percent ")
    s = _WORD_NUMBER_RE.sub(_word_number, s)
    s = _RANGE_RE.sub(_canonical_range, s)
    s = _NUMBER_RE.sub(_canonical_number, s)
    s = re.sub(r"[^\w\s.]|_", " ", s)
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", s)
    tokens = [t for t in s.split() if t not in _ARTICLES]
    return " ".join(tokens)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between the normalised texts (0.0 when either is empty)."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return 0.0
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_score(prediction: str, references: Iterable[str]) -> tuple[bool, float]:
    """(correct, best token F1) of a prediction against acceptable references.

    A short reference (<= SHORT_ANSWER_MAX_TOKENS normalised tokens) counts when
    its normalised form appears in the normalised prediction on token
    boundaries; a longer one counts when token F1 >= LONG_ANSWER_F1_THRESHOLD.
    Any one reference counting makes the answer correct. The score is the best
    F1 over all references. No usable references: (False, 0.0).
    """
    pred_norm = normalize_answer(prediction)
    padded = f" {pred_norm} "
    correct = False
    best = 0.0
    for reference in references:
        ref_norm = normalize_answer(reference)
        if not ref_norm:
            continue
        f1 = token_f1(prediction, reference)
        best = max(best, f1)
        if len(ref_norm.split()) <= SHORT_ANSWER_MAX_TOKENS:
            if pred_norm and f" {ref_norm} " in padded:
                correct = True
        elif f1 >= LONG_ANSWER_F1_THRESHOLD:
            correct = True
    return correct, best


def answer_correct(prediction: str, references: Iterable[str]) -> bool:
    return answer_score(prediction, references)[0]


# --------------------------------------------------------------------------- citations


def citation_scores(citations: Sequence[Any], evidence: Sequence[Evidence | dict]) -> dict:
    """Per-answer citation figures (a citation is a dict or object with source/start_line/end_line[/page]).

    precision_gold: fraction of citations overlapping some gold span (None without citations);
    recall: fraction of gold spans overlapped by at least one citation; a span with
        `lines` None is covered by any citation of its source (and page, when both carry one)
        (None without evidence);
    hit: 1.0 when at least one citation overlaps some gold span, else 0.0 (None without evidence);
    covered: per gold span, whether a citation covers it.
    """
    evidence = [_as_evidence(ev) for ev in evidence]
    spans = [_span_of(c) for c in citations]
    n = len(spans)
    overlaps = [any(span_overlaps(ev, *span) for ev in evidence) for span in spans]
    covered = [any(span_overlaps(ev, *span) for span in spans) for ev in evidence]
    return {
        "precision_gold": (sum(overlaps) / n) if n else None,
        "recall": (sum(covered) / len(evidence)) if evidence else None,
        "hit": (1.0 if any(overlaps) else 0.0) if evidence else None,
        "covered": covered,
    }


def answer_outcome(answer: dict | Any) -> str:
    """"answered", "refused_not_in_documents", "refused_unverified" or "error" for an answer object.

    error: status model_unavailable or error. A refusal: status not_found, declined or
    unverified, or `answerable` false with any other status; unverified refusals are
    "refused_unverified", all others "refused_not_in_documents".
    """
    status = _get(answer, "status")
    if status in ERROR_STATUSES:
        return "error"
    if status in UNVERIFIED_STATUSES:
        return "refused_unverified"
    if status in NOT_IN_DOCUMENTS_STATUSES or not bool(_get(answer, "answerable", True)):
        return "refused_not_in_documents"
    return "answered"


# --------------------------------------------------------------------------- latency


def percentile(values: Sequence[float], q: float) -> float | None:
    """numpy percentile (linear interpolation); None for no values."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return float(np.percentile(np.asarray(vals, dtype=float), q, method="linear"))


def total_latency(timings_ms: dict | None) -> float | None:
    """`total` when present, else the sum of the stages; None without timings."""
    if not timings_ms:
        return None
    if timings_ms.get("total") is not None:
        return float(timings_ms["total"])
    return float(sum(float(v) for v in timings_ms.values() if v is not None))


def latency_stats(timings: Sequence[dict | None]) -> dict:
    """p50/p95 of per-question totals and of each stage.

    Returns {"p50": float|None, "p95": float|None, "by_stage": {stage: {"p50", "p95"}}};
    stages are listed in the order first seen.
    """
    totals = [total_latency(t) for t in timings]
    totals = [t for t in totals if t is not None]
    stages: dict[str, list[float]] = {}
    for t in timings:
        for stage, value in (t or {}).items():
            if value is not None:
                stages.setdefault(stage, []).append(float(value))
    return {
        "p50": _round(percentile(totals, 50), 2),
        "p95": _round(percentile(totals, 95), 2),
        "by_stage": {
            stage: {"p50": _round(percentile(v, 50), 2), "p95": _round(percentile(v, 95), 2)}
            for stage, v in stages.items()
        },
    }


# --------------------------------------------------------------------------- per question


class QuestionRecord(TypedDict, total=False):
    """One question's row in report["questions"] (score_question's result).

    Always present: id, question, type, answerable, references, evidence, k,
    retrieved, hit, recall, reciprocal_rank, timings_ms, latency_ms, answered.
    Present when an answer was scored (answered true): answer,
    answer_answerable, status, outcome, error, model, refused, correct, f1,
    citations, sentences, citation_precision_gold, citation_recall,
    citation_hit; then each evidence entry also has `cited`.
    """

    id: str
    question: str
    type: str | None
    answerable: bool
    references: list[str]
    evidence: list[dict]  # {"source", "lines": [s, e] | None, "page", "label"[, "cited"]}
    k: int
    retrieved: list[dict]  # {"rank", "source", "start_line", "end_line", "page", "score", "label", "overlaps_gold"}
    hit: bool | None
    recall: float | None
    reciprocal_rank: float | None
    timings_ms: dict[str, float]
    latency_ms: float | None
    answered: bool
    answer: str
    answer_answerable: bool
    status: str | None
    outcome: str  # answered | refused_not_in_documents | refused_unverified | error
    error: str | None
    model: str | None
    refused: bool
    correct: bool | None
    f1: float | None
    # {"source", "start_line", "end_line", "page", "label", "verified", "repaired", "support",
    #  "spans": [{"line", "start_char", "end_char"}], "checks": {name: score}, "overlaps_gold"}
    citations: list[dict]
    sentences: list[dict]  # {"text", "supported", "citations"[, "reason"]}
    citation_precision_gold: float | None
    citation_recall: float | None
    citation_hit: float | None


def _to_plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(vars(obj))


def _optional_number(value: Any, kind: type) -> Any:
    """`kind(value)` (int or float), or None for a missing, boolean or unreadable value."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _spans_of(citation: Any) -> list[dict]:
    spans = []
    for span in _get(citation, "spans") or []:
        spans.append(
            {
                "line": _optional_number(_get(span, "line"), int),
                "start_char": _optional_number(_get(span, "start_char"), int),
                "end_char": _optional_number(_get(span, "end_char"), int),
            }
        )
    return spans


def _checks_of(citation: Any) -> dict[str, float | None]:
    checks = _get(citation, "checks") or {}
    if not isinstance(checks, dict):
        checks = _to_plain(checks) or {}
    return {str(name): _optional_number(score, float) for name, score in checks.items()}


def _citation_record(citation: Any, evidence: Sequence[Evidence]) -> dict:
    source, start, end, page = _span_of(citation)
    return {
        "source": source,
        "start_line": start,
        "end_line": end,
        "page": page,
        "label": citation_label(source, start, end, page),
        "verified": bool(_get(citation, "verified", False)),
        "repaired": bool(_get(citation, "repaired", False)),
        "support": _optional_number(_get(citation, "support"), float),
        "spans": _spans_of(citation),
        "checks": _checks_of(citation),
        "overlaps_gold": any(span_overlaps(ev, source, start, end, page) for ev in evidence),
    }


def _sentence_record(sentence: Any) -> dict:
    labels = _get(sentence, "citations") or []
    out = {
        "text": str(_get(sentence, "text", "") or ""),
        "supported": bool(_get(sentence, "supported", False)),
        "citations": [str(c) if isinstance(c, str) else citation_label(*_span_of(c)) for c in labels],
    }
    reason = _get(sentence, "reason")
    if reason is not None:
        out["reason"] = str(reason)
    return out


def score_question(
    golden: GoldenQuestion | dict,
    passages: Sequence[Any],
    answer: dict | Any | None,
    k: int,
    *,
    timings_ms: dict | None = None,
) -> QuestionRecord:
    """Every per-question field for one golden question.

    golden: a GoldenQuestion (or its dict). passages: the ranked retrieval
    result (dicts or objects with source/start_line/end_line[/page][/score]);
    only the first k count. answer: the answer object (dict or rag.types.Answer), or None
    in retrieval-only runs; a runner records an exception while answering as
    an answer with status "error" and the message in `error`. timings_ms: stage
    timings measured by the runner (for example {"retrieve": 12.0, "total": 12.0}
    in retrieval-only runs); the answer's own timings_ms, when given, override the same keys.

    An answer whose outcome is "error" is not scored for correctness or
    citations (those fields are None); with status "error" and no passages,
    retrieval is not scored either (the pipeline failed before returning any).
    """
    g = golden if isinstance(golden, GoldenQuestion) else GoldenQuestion.model_validate(golden)
    top = list(passages)[:k]
    retrieved = []
    for rank, p in enumerate(top, start=1):
        source, start, end, page = _span_of(p)
        score = _get(p, "score")
        retrieved.append(
            {
                "rank": rank,
                "source": source,
                "start_line": start,
                "end_line": end,
                "page": page,
                "score": None if score is None else float(score),
                "label": citation_label(source, start, end, page),
                "overlaps_gold": overlaps_any(p, g.evidence),
            }
        )
    ans = _to_plain(answer)
    failed_before_retrieval = ans is not None and ans.get("status") == "error" and not top
    if g.answerable and not failed_before_retrieval:
        ret = retrieval_scores(top, g.evidence)
    else:
        ret = {"hit": None, "recall": None, "reciprocal_rank": None}

    timings: dict[str, float] = {str(s): float(v) for s, v in (timings_ms or {}).items() if v is not None}
    if ans is not None:
        timings.update({str(s): float(v) for s, v in (ans.get("timings_ms") or {}).items() if v is not None})

    evidence = [
        {"source": ev.source, "lines": list(ev.lines) if ev.lines else None, "page": ev.page, "label": ev.label}
        for ev in g.evidence
    ]
    record: QuestionRecord = {
        "id": g.id,
        "question": g.question,
        "type": g.type,
        "answerable": g.answerable,
        "references": list(g.answers),
        "evidence": evidence,
        "k": k,
        "retrieved": retrieved,
        "hit": ret["hit"],
        "recall": _round(ret["recall"]),
        "reciprocal_rank": _round(ret["reciprocal_rank"]),
        "timings_ms": timings,
        "latency_ms": total_latency(timings),
        "answered": ans is not None,
    }
    if ans is None:
        return record

    text = str(ans.get("answer") or "")
    answer_answerable = bool(ans.get("answerable", True))
    outcome = answer_outcome(ans)
    error = outcome == "error"
    refused = outcome.startswith("refused")
    citations = [_citation_record(_to_plain(c), g.evidence) for c in (ans.get("citations") or [])]
    sentences = [_sentence_record(_to_plain(s)) for s in (ans.get("sentences") or [])]
    cit = citation_scores(citations, g.evidence)
    for entry, covered in zip(evidence, cit["covered"]):
        entry["cited"] = bool(covered) and not refused and not error
    if error or not (g.answerable and g.answers):
        correct, f1 = None, None
    else:
        correct, f1 = answer_score(text, g.answers) if not refused else (False, 0.0)
    if error or not g.answerable or cit["recall"] is None:
        cit_recall = cit_hit = None
    elif refused:  # a refusal supports nothing, whatever it cites
        cit_recall = cit_hit = 0.0
    else:
        cit_recall, cit_hit = cit["recall"], cit["hit"]
    message = ans.get("error")
    if error and not message:
        message = "the model was unavailable" if ans.get("status") == "model_unavailable" else "error"
    record.update(
        {
            "answer": text,
            "answer_answerable": answer_answerable,
            "status": ans.get("status"),
            "outcome": outcome,
            "error": str(message) if error else None,
            "model": ans.get("model"),
            "decline_probability": _optional_number(ans.get("decline_probability"), float),
            "refused": refused,
            "correct": correct,
            "f1": _round(f1),
            "citations": citations,
            "sentences": sentences,
            "citation_precision_gold": None if error else _round(cit["precision_gold"]),
            "citation_recall": _round(cit_recall),
            "citation_hit": cit_hit,
        }
    )
    return record


# --------------------------------------------------------------------------- aggregation


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return _round(sum(vals) / len(vals)) if vals else None


def _outcome(record: dict) -> str | None:
    """A record's outcome; records written before `outcome` existed fall back to `refused`."""
    if not record.get("answered"):
        return None
    if record.get("outcome"):
        return record["outcome"]
    if record.get("status") in ERROR_STATUSES:
        return "error"
    if record.get("refused"):
        return "refused_unverified" if record.get("status") in UNVERIFIED_STATUSES else "refused_not_in_documents"
    return "answered"


def _share(records: Sequence[dict], outcomes: tuple[str, ...]) -> float | None:
    return _mean(_outcome(r) in outcomes for r in records)


_REFUSED = ("refused_not_in_documents", "refused_unverified")


def _group_metrics(records: Sequence[dict], retrieval_only: bool) -> dict:
    answerable = [r for r in records if r.get("answerable")]
    out = {
        "hit_at_k": _mean(r.get("hit") for r in answerable),
        "recall_at_k": _mean(r.get("recall") for r in answerable),
        "mrr": _mean(r.get("reciprocal_rank") for r in answerable),
    }
    if retrieval_only:
        return out
    answered = [r for r in records if r.get("answered")]
    scored = [r for r in answered if _outcome(r) != "error"]  # errors are neither answers nor refusals
    scored_answerable = [r for r in scored if r.get("answerable")]
    scored_unanswerable = [r for r in scored if not r.get("answerable")]
    answerable_refused = _share(scored_answerable, _REFUSED)
    unanswerable_refused = _share(scored_unanswerable, _REFUSED)
    out.update(
        {
            "answer_accuracy": _mean(r.get("correct") for r in scored_answerable),
            "citation_precision": _mean(r.get("citation_precision_gold") for r in scored),
            "citation_recall": _mean(r.get("citation_recall") for r in scored_answerable),
            "refusal_accuracy": unanswerable_refused,
            "false_refusal_rate": answerable_refused,
            "answer_f1": _mean(r.get("f1") for r in scored_answerable),
            "citation_hit_rate": _mean(r.get("citation_hit") for r in scored_answerable),
            "error_rate": _share(answered, ("error",)),
            "answerable_refused": answerable_refused,
            "unanswerable_refused": unanswerable_refused,
            "refused_not_in_documents": _share(scored, ("refused_not_in_documents",)),
            "refused_unverified": _share(scored, ("refused_unverified",)),
        }
    )
    return out


def _outcome_counts(records: Sequence[dict]) -> dict:
    counts = {"answered": 0, "refused_not_in_documents": 0, "refused_unverified": 0, "error": 0}
    for r in records:
        outcome = _outcome(r)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def aggregate(records: Sequence[dict], k: int, retrieval_only: bool = False) -> dict:
    """The report's `metrics` object from score_question records.

    Keys (full run): hit_at_k, recall_at_k, mrr, answer_accuracy,
    citation_precision, citation_recall, refusal_accuracy, false_refusal_rate,
    latency_p50_ms, latency_p95_ms, then answer_f1, citation_hit_rate,
    error_rate, answerable_refused, unanswerable_refused,
    refused_not_in_documents, refused_unverified, latency_by_stage, counts,
    outcomes ({"answerable"|"unanswerable": {outcome: n}}), by_type. With
    retrieval_only: hit_at_k, recall_at_k, mrr, latency_p50_ms,
    latency_p95_ms, latency_by_stage, counts, by_type (retrieval metrics
    only). Any metric with an empty denominator is None. `k` is accepted for
    symmetry with the report (records already hold top-k results).
    """
    records = list(records)
    overall = _group_metrics(records, retrieval_only)
    lat = latency_stats([r.get("timings_ms") for r in records])
    if retrieval_only:
        metrics: dict[str, Any] = {key: overall[key] for key in RETRIEVAL_METRIC_KEYS}
    else:
        metrics = {key: overall.get(key) for key in REPORT_METRIC_KEYS if not key.startswith("latency")}
    metrics["latency_p50_ms"] = lat["p50"]
    metrics["latency_p95_ms"] = lat["p95"]
    if not retrieval_only:
        for key in EXTRA_ANSWER_METRIC_KEYS:
            metrics[key] = overall[key]
    metrics["latency_by_stage"] = lat["by_stage"]
    outcomes = _outcome_counts(records)
    counts = {
        "questions": len(records),
        "answerable": sum(1 for r in records if r.get("answerable")),
        "unanswerable": sum(1 for r in records if not r.get("answerable")),
        "answered": sum(1 for r in records if r.get("answered")),
        "refused": outcomes["refused_not_in_documents"] + outcomes["refused_unverified"],
    }
    if not retrieval_only:
        counts.update(
            {
                "refused_not_in_documents": outcomes["refused_not_in_documents"],
                "refused_unverified": outcomes["refused_unverified"],
                "errors": outcomes["error"],
                "citations": sum(len(r.get("citations") or []) for r in records),
                "citations_repaired": sum(
                    1 for r in records for c in r.get("citations") or [] if c.get("repaired")
                ),
            }
        )
    metrics["counts"] = counts
    if not retrieval_only:
        metrics["outcomes"] = {
            "answerable": _outcome_counts([r for r in records if r.get("answerable")]),
            "unanswerable": _outcome_counts([r for r in records if not r.get("answerable")]),
        }
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r.get("type") or UNTYPED, []).append(r)
    by_type = {}
    for type_name in sorted(groups):
        group = groups[type_name]
        entry = _group_metrics(group, retrieval_only)
        entry["latency_p50_ms"] = latency_stats([r.get("timings_ms") for r in group])["p50"]
        entry["questions"] = len(group)
        entry["answerable"] = sum(1 for r in group if r.get("answerable"))
        by_type[type_name] = entry
    metrics["by_type"] = by_type
    return metrics


def build_report(records: Sequence[dict], k: int, retrieval_only: bool = False, **extra: Any) -> dict:
    """The whole report: {"metrics", "k", "retrieval_only", "metrics_version", **extra, "questions"}.

    extra holds run details a runner may add (golden, corpus, model, ...).
    """
    records = list(records)
    report: dict[str, Any] = {
        "metrics": aggregate(records, k, retrieval_only),
        "k": k,
        "retrieval_only": retrieval_only,
        "metrics_version": METRICS_VERSION,
    }
    report.update(extra)
    report["questions"] = records
    return report
