"""Span arithmetic: do retrieved passages and citations cover the gold evidence lines?

A passage or citation is a dict or an object with source/start_line/end_line[/page]; both
come from answers as JSON as well as from live `rag.types` objects, hence the duck typing.
"""

from __future__ import annotations

from typing import Any, Sequence

from rag.evaluation.golden import Evidence, norm_source

__all__ = [
    "field_of",
    "optional_number",
    "as_evidence",
    "span_of",
    "span_overlaps",
    "overlaps_any",
    "retrieval_scores",
    "hit_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "citation_scores",
]


def field_of(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def optional_number(value: Any, kind: type) -> Any:
    """`kind(value)` (int or float), or None for a missing, boolean or unreadable value."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def as_evidence(evidence: Evidence | dict) -> Evidence:
    return evidence if isinstance(evidence, Evidence) else Evidence.model_validate(evidence)


def span_of(item: Any) -> tuple[str, int, int, int | None]:
    """(source, start_line, end_line, page) of a passage or citation (dict or object)."""
    return (
        str(field_of(item, "source", "")),
        int(field_of(item, "start_line", 0) or 0),
        int(field_of(item, "end_line", 0) or 0),
        optional_number(field_of(item, "page"), int),
    )


def span_overlaps(
    evidence: Evidence | dict, source: str, start_line: int, end_line: int, page: int | None = None
) -> bool:
    """True when [start_line, end_line] of `source` shares at least one line with the evidence.

    Evidence with `lines` None matches any span of the same source. Sources are
    compared after normalising `\\` to `/` and dropping a leading `./`. When
    both the evidence and the span carry a `page`, the pages must be equal too
    (lines are numbered within a page); when either has none, pages are not compared.
    """
    ev = as_evidence(evidence)
    if ev.source != norm_source(source):
        return False
    if ev.page is not None and page is not None and int(page) != ev.page:
        return False
    if ev.lines is None:
        return True
    gold_start, gold_end = ev.lines
    lo, hi = (start_line, end_line) if start_line <= end_line else (end_line, start_line)
    return lo <= gold_end and gold_start <= hi


def overlaps_any(item: Any, evidence: Sequence[Evidence | dict]) -> bool:
    """True when a passage or citation overlaps any gold span."""
    span = span_of(item)
    return any(span_overlaps(ev, *span) for ev in evidence)


# --------------------------------------------------------------------------- retrieval


def retrieval_scores(passages: Sequence[Any], evidence: Sequence[Evidence | dict], k: int | None = None) -> dict:
    """hit, recall and reciprocal_rank of the top-k passages against the gold spans.

    All three are None when there is no evidence (nothing to find).
    """
    evidence = [as_evidence(ev) for ev in evidence]
    top = list(passages if k is None else passages[:k])
    if not evidence:
        return {"hit": None, "recall": None, "reciprocal_rank": None}
    spans = [span_of(p) for p in top]
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


# --------------------------------------------------------------------------- citations


def citation_scores(citations: Sequence[Any], evidence: Sequence[Evidence | dict]) -> dict:
    """Per-answer citation figures.

    precision_gold: fraction of citations overlapping some gold span (None without citations);
    recall: fraction of gold spans overlapped by at least one citation; a span with
        `lines` None is covered by any citation of its source (and page, when both carry one)
        (None without evidence);
    hit: 1.0 when at least one citation overlaps some gold span, else 0.0 (None without evidence);
    covered: per gold span, whether a citation covers it.
    """
    evidence = [as_evidence(ev) for ev in evidence]
    spans = [span_of(c) for c in citations]
    n = len(spans)
    overlaps = [any(span_overlaps(ev, *span) for ev in evidence) for span in spans]
    covered = [any(span_overlaps(ev, *span) for span in spans) for ev in evidence]
    return {
        "precision_gold": (sum(overlaps) / n) if n else None,
        "recall": (sum(covered) / len(evidence)) if evidence else None,
        "hit": (1.0 if any(overlaps) else 0.0) if evidence else None,
        "covered": covered,
    }
