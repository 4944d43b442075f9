"""Aggregation: the report's summary numbers (`metrics`) from the per-question records.

A metric whose denominator is empty (for example refusal accuracy without
unanswerable questions) is None, never 0. Records that failed ("error" outcome)
count in `error_rate` only.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from rag.evaluation.scoring import ERROR_STATUSES, UNVERIFIED_STATUSES, rounded, total_latency

__all__ = [
    "percentile",
    "latency_stats",
    "aggregate",
    "build_report",
    "REPORT_METRIC_KEYS",
    "RETRIEVAL_METRIC_KEYS",
    "EXTRA_ANSWER_METRIC_KEYS",
    "METRICS_VERSION",
]

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
UNTYPED = "untyped"  # the by_type group of questions without a type


# --------------------------------------------------------------------------- latency


def percentile(values: Sequence[float], q: float) -> float | None:
    """numpy percentile (linear interpolation); None for no values."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return float(np.percentile(np.asarray(vals, dtype=float), q, method="linear"))


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
        "p50": rounded(percentile(totals, 50), 2),
        "p95": rounded(percentile(totals, 95), 2),
        "by_stage": {
            stage: {"p50": rounded(percentile(v, 50), 2), "p95": rounded(percentile(v, 95), 2)}
            for stage, v in stages.items()
        },
    }


# --------------------------------------------------------------------------- metrics


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return rounded(sum(vals) / len(vals)) if vals else None


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
                # questions the model answered a second time, over the best lines, and of those the answered ones
                "second_answers": sum(1 for r in records if "retry" in (r.get("timings_ms") or {})),
                "second_answers_shown": sum(
                    1 for r in records if "retry" in (r.get("timings_ms") or {}) and _outcome(r) == "answered"
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
