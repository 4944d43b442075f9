"""Answer scoring: accuracy and F1 against the references, the refusal outcome, and the
per-question record of the report (score_question).

Outcomes: every scored answer is exactly one of "answered", "refused" (status
not_found / declined / unverified, or answerable false) or "error" (status
model_unavailable, or the runner's "error" for an exception while answering).
Errors are not refusals: they count in `error_rate` only and are left out of
the answer, refusal and citation metrics.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence, TypedDict

from rag.evaluation.golden import Evidence, GoldenQuestion
from rag.evaluation.spans import citation_scores, field_of, optional_number, overlaps_any, retrieval_scores, span_of, span_overlaps
from rag.text import citation_label, strip_markers

__all__ = [
    "QuestionRecord",
    "normalize_answer",
    "token_f1",
    "answer_score",
    "answer_correct",
    "answer_outcome",
    "total_latency",
    "rounded",
    "score_question",
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
#: Answer statuses that are failures, not refusals ("error": an exception while answering).
ERROR_STATUSES = ("model_unavailable", "error")
#: Refusals saying the documents do not hold the answer.
NOT_IN_DOCUMENTS_STATUSES = ("not_found", "declined")
#: Refusals because no claim of the draft answer could be verified.
UNVERIFIED_STATUSES = ("unverified",)


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


# --------------------------------------------------------------------------- outcome


def answer_outcome(answer: dict | Any) -> str:
    """"answered", "refused_not_in_documents", "refused_unverified" or "error" for an answer object.

    error: status model_unavailable or error. A refusal: status not_found, declined or
    unverified, or `answerable` false with any other status; unverified refusals are
    "refused_unverified", all others "refused_not_in_documents".
    """
    status = field_of(answer, "status")
    if status in ERROR_STATUSES:
        return "error"
    if status in UNVERIFIED_STATUSES:
        return "refused_unverified"
    if status in NOT_IN_DOCUMENTS_STATUSES or not bool(field_of(answer, "answerable", True)):
        return "refused_not_in_documents"
    return "answered"


# --------------------------------------------------------------------------- per question


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def total_latency(timings_ms: dict | None) -> float | None:
    """`total` when present, else the sum of the stages; None without timings."""
    if not timings_ms:
        return None
    if timings_ms.get("total") is not None:
        return float(timings_ms["total"])
    return float(sum(float(v) for v in timings_ms.values() if v is not None))


class QuestionRecord(TypedDict, total=False):
    """One question's row in report["questions"] (score_question's result).

    Always present: id, question, type, answerable, references, evidence, k,
    retrieved, hit, recall, reciprocal_rank, timings_ms, latency_ms, answered.
    Present when an answer was scored (answered true): answer,
    answer_answerable, status, outcome, error, model, decline_probability,
    refused, correct, f1, citations, sentences, citation_precision_gold,
    citation_recall, citation_hit; then each evidence entry also has `cited`.
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
    decline_probability: float | None
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


def _spans_of(citation: Any) -> list[dict]:
    spans = []
    for span in field_of(citation, "spans") or []:
        spans.append(
            {
                "line": optional_number(field_of(span, "line"), int),
                "start_char": optional_number(field_of(span, "start_char"), int),
                "end_char": optional_number(field_of(span, "end_char"), int),
            }
        )
    return spans


def _checks_of(citation: Any) -> dict[str, float | None]:
    checks = field_of(citation, "checks") or {}
    if not isinstance(checks, dict):
        checks = _to_plain(checks) or {}
    return {str(name): optional_number(score, float) for name, score in checks.items()}


def _citation_record(citation: Any, evidence: Sequence[Evidence]) -> dict:
    source, start, end, page = span_of(citation)
    return {
        "source": source,
        "start_line": start,
        "end_line": end,
        "page": page,
        "label": citation_label(source, start, end, page),
        "verified": bool(field_of(citation, "verified", False)),
        "repaired": bool(field_of(citation, "repaired", False)),
        "support": optional_number(field_of(citation, "support"), float),
        "spans": _spans_of(citation),
        "checks": _checks_of(citation),
        "overlaps_gold": any(span_overlaps(ev, source, start, end, page) for ev in evidence),
    }


def _sentence_record(sentence: Any) -> dict:
    labels = field_of(sentence, "citations") or []
    out = {
        "text": str(field_of(sentence, "text", "") or ""),
        "supported": bool(field_of(sentence, "supported", False)),
        "citations": [str(c) if isinstance(c, str) else citation_label(*span_of(c)) for c in labels],
    }
    reason = field_of(sentence, "reason")
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
        source, start, end, page = span_of(p)
        score = field_of(p, "score")
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
        "recall": rounded(ret["recall"]),
        "reciprocal_rank": rounded(ret["reciprocal_rank"]),
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
            "decline_probability": optional_number(ans.get("decline_probability"), float),
            "refused": refused,
            "correct": correct,
            "f1": rounded(f1),
            "citations": citations,
            "sentences": sentences,
            "citation_precision_gold": None if error else rounded(cit["precision_gold"]),
            "citation_recall": rounded(cit_recall),
            "citation_hit": cit_hit,
        }
    )
    return record

