"""Write an eval report to disk: report.json, summary.md and PNG charts.

    paths = write_report(report, Path("evals/reports/latest"), previous=old_report)

`report` is what rag.evaluation.aggregate.build_report returns (the INTERFACE
eval report: {"metrics", "k", "questions", ...}). `compare_reports` gives the
metric-by-metric comparison used in summary.md; a runner can use it to fail
on regressions.

Reports written before metrics version 2 (no `metrics_version` key) used other
definitions for some metrics; `compare_reports` does not flag those (see
INCOMPARABLE_WITH_V1 and V1_NAMES).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from rag.evaluation.aggregate import EXTRA_ANSWER_METRIC_KEYS, METRICS_VERSION, REPORT_METRIC_KEYS

__all__ = [
    "write_report",
    "compare_reports",
    "has_regression",
    "load_report",
    "render_summary",
    "worst_questions",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "ABSOLUTE_TOLERANCE",
    "LATENCY_RELATIVE_TOLERANCE",
    "INCOMPARABLE_WITH_V1",
    "V1_NAMES",
]

#: Metrics where a larger value is better; a drop by more than ABSOLUTE_TOLERANCE is a regression.
HIGHER_IS_BETTER = (
    "hit_at_k",
    "recall_at_k",
    "mrr",
    "answer_accuracy",
    "answer_f1",
    "citation_precision",
    "citation_recall",
    "citation_hit_rate",
    "refusal_accuracy",
    "unanswerable_refused",
)
#: Metrics where a smaller value is better.
LOWER_IS_BETTER = (
    "false_refusal_rate",
    "answerable_refused",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
#: Shown in comparisons, never flagged: a shift between the two kinds of refusal is neither better nor worse.
INFORMATIONAL = ("refused_not_in_documents", "refused_unverified")
#: Metrics whose version-1 value (reports without `metrics_version`) means something else:
#: citation_recall was the any-hit rate now called citation_hit_rate. They are not compared across versions.
INCOMPARABLE_WITH_V1 = ("citation_recall",)
#: A version-2 metric absent from version-1 reports, and the version-1 metric it is compared with
#: (the same definition as long as no answer failed with model_unavailable).
V1_NAMES = {
    "citation_hit_rate": "citation_recall",
    "answerable_refused": "false_refusal_rate",
    "unanswerable_refused": "refusal_accuracy",
}
#: Tolerance for rates (higher-is-better metrics and the lower-is-better rates).
ABSOLUTE_TOLERANCE = 0.02
#: Latency may rise by this fraction of the previous value before it counts as a regression.
LATENCY_RELATIVE_TOLERANCE = 0.20

_COMPARED = HIGHER_IS_BETTER + LOWER_IS_BETTER + INFORMATIONAL
_TITLES = {
    "hit_at_k": "hit@k",
    "recall_at_k": "recall@k",
    "mrr": "MRR",
    "answer_accuracy": "answer accuracy",
    "answer_f1": "answer F1",
    "citation_precision": "citation precision (gold)",
    "citation_recall": "citation recall (gold spans)",
    "citation_hit_rate": "citation hit rate",
    "refusal_accuracy": "refusal accuracy",
    "false_refusal_rate": "false refusal rate",
    "error_rate": "error rate",
    "answerable_refused": "answerable refused",
    "unanswerable_refused": "unanswerable refused",
    "refused_not_in_documents": "refused: not in documents",
    "refused_unverified": "refused: unverified",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}


# --------------------------------------------------------------------------- comparison


def _metrics_of(report: dict) -> dict:
    """A report's metrics; a bare metrics dict is accepted too."""
    metrics = report.get("metrics") if isinstance(report, dict) else None
    return metrics if isinstance(metrics, dict) else (report or {})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if math.isnan(value):
        return None
    return float(value)


def _version_of(report: dict) -> int:
    """A report's metrics version: its `metrics_version`, 1 for a report without one, the current one for a bare metrics dict."""
    if isinstance(report, dict) and isinstance(report.get("metrics"), dict):
        version = report.get("metrics_version")
        return int(version) if isinstance(version, int) and not isinstance(version, bool) else 1
    return METRICS_VERSION


def _had_model_failures(report: dict) -> bool:
    """Whether a version-1 report holds answers with status model_unavailable (then counted as refusals)."""
    questions = report.get("questions") if isinstance(report, dict) else None
    return any(isinstance(q, dict) and q.get("status") == "model_unavailable" for q in questions or [])


def compare_reports(current: dict, previous: dict) -> list[dict]:
    """Metric-by-metric comparison of two reports (or two metrics dicts).

    One row per metric present in either report, in a fixed order:
    {"metric", "previous", "current", "delta", "regression", "direction", "note"}.
    delta is current - previous (None when either is missing or the values are
    not comparable). regression is true when a higher-is-better metric dropped
    by more than 0.02, when a lower-is-better rate (false_refusal_rate,
    answerable_refused, error_rate) rose by more than 0.02, or when a latency
    rose by more than 20% of its previous value (a previous latency of 0 is
    never compared relatively, so it never flags). A metric missing on one
    side never flags; refused_not_in_documents / refused_unverified never flag.

    Across metric versions (a report without `metrics_version` is version 1):
    citation_recall is not compared (note says why); a version-2 metric that a
    version-1 report lacks is compared with its version-1 equivalent (V1_NAMES;
    the note names it); and when the version-1 report holds model_unavailable
    answers, the refusal and accuracy metrics are not compared either.
    """
    cur_m, prev_m = _metrics_of(current), _metrics_of(previous)
    cur_v, prev_v = _version_of(current), _version_of(previous)
    across = cur_v != prev_v and 1 in (cur_v, prev_v)
    old = previous if prev_v == 1 else current
    failures = across and _had_model_failures(old)
    rows = []
    for metric in _COMPARED:
        cur, prev = _number(cur_m.get(metric)), _number(prev_m.get(metric))
        present = metric in cur_m or metric in prev_m
        note = None
        if across and metric in V1_NAMES:
            old_m = prev_m if prev_v == 1 else cur_m
            if metric not in old_m and V1_NAMES[metric] in old_m:
                value = _number(old_m.get(V1_NAMES[metric]))
                prev, cur = (value, cur) if prev_v == 1 else (prev, value)
                present = True
                note = f"version-1 report: compared with its {V1_NAMES[metric]}"
        if not present:
            continue
        comparable = True
        if across and metric in INCOMPARABLE_WITH_V1:
            comparable = False
            note = "definition changed in metrics version 2 (version 1 was the any-hit rate, see citation_hit_rate)"
        elif failures and metric in (
            "answer_accuracy", "answer_f1", "refusal_accuracy", "false_refusal_rate",
            "answerable_refused", "unanswerable_refused", "citation_hit_rate",
        ):
            comparable = False
            note = "version-1 report counted model_unavailable answers as refusals"
        delta = None if cur is None or prev is None or not comparable else round(cur - prev, 6)
        regression = False
        if delta is not None:
            if metric in HIGHER_IS_BETTER:
                regression = -delta > ABSOLUTE_TOLERANCE + 1e-9
            elif metric.startswith("latency"):
                regression = prev > 0 and cur > prev * (1 + LATENCY_RELATIVE_TOLERANCE) + 1e-9
            elif metric in LOWER_IS_BETTER:
                regression = delta > ABSOLUTE_TOLERANCE + 1e-9
        rows.append(
            {
                "metric": metric,
                "previous": prev,
                "current": cur,
                "delta": delta,
                "regression": regression,
                "direction": "higher" if metric in HIGHER_IS_BETTER else "lower" if metric in LOWER_IS_BETTER else "none",
                "note": note,
            }
        )
    return rows


def has_regression(rows: Sequence[dict]) -> bool:
    return any(row.get("regression") for row in rows)


def load_report(path: str | Path) -> dict:
    """Read a report.json written earlier (for `--compare`)."""
    from rag.errors import InputError

    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"previous report not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read previous report {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path} is not an eval report (no metrics object)")
    return data


# --------------------------------------------------------------------------- markdown


def _fmt(value: Any, metric: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if metric.startswith("latency") or metric.endswith("_ms"):
            return f"{value:.1f}"
        if isinstance(value, int):
            return str(value)
        return f"{value:.3f}"
    return str(value)


def _fmt_delta(row: dict) -> str:
    delta = row["delta"]
    if delta is None:
        return "n/a"
    if row["metric"].startswith("latency"):
        text = f"{delta:+.1f}"
        if row["previous"]:
            text += f" ({delta / row['previous']:+.0%})"
        return text
    return f"{delta:+.3f}"


def _cell(text: Any, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _outcome_ok(record: dict) -> bool:
    if record.get("answered"):
        if record.get("outcome") == "error" or record.get("status") in ("model_unavailable", "error"):
            return False
        if record.get("answerable"):
            return bool(record.get("correct")) and not record.get("refused")
        return bool(record.get("refused"))
    return bool(record.get("hit")) if record.get("answerable") else True


def worst_questions(records: Sequence[dict], n: int = 5) -> list[dict]:
    """The n worst questions: wrong outcome first (error, wrong answer, false refusal,
    unrefused unanswerable question), then missed retrieval, then lower
    reciprocal rank, answer F1 and citation recall. Ties keep the input order."""

    def key(item: tuple[int, dict]) -> tuple:
        index, r = item
        hit = r.get("hit")
        return (
            _outcome_ok(r),
            True if hit is None else bool(hit),
            r.get("reciprocal_rank") if r.get("reciprocal_rank") is not None else 1.0,
            r.get("f1") if r.get("f1") is not None else 1.0,
            r.get("citation_recall") if r.get("citation_recall") is not None else 1.0,
            index,
        )

    return [r for _, r in sorted(enumerate(records), key=key)[:n]]


def _by_type_columns(retrieval_only: bool) -> list[str]:
    cols = ["hit_at_k", "recall_at_k", "mrr"]
    if not retrieval_only:
        cols += [
            "answer_accuracy",
            "citation_precision",
            "citation_recall",
            "citation_hit_rate",
            "refusal_accuracy",
            "false_refusal_rate",
            "error_rate",
        ]
    return cols


_OUTCOME_TITLES = (
    ("answered", "answered"),
    ("refused_not_in_documents", "refused: not in documents"),
    ("refused_unverified", "refused: unverified"),
    ("error", "error"),
)


def _citation_text(c: dict) -> str:
    flags = ["verified" if c.get("verified") else "unverified"]
    if c.get("repaired"):
        flags.append("repaired")
    if c.get("support") is not None:
        flags.append(f"support {_fmt(c.get('support'))}")
    checks = c.get("checks") or {}
    if checks:
        flags.append(" ".join(f"{_cell(name, 40)} {_fmt(score)}" for name, score in checks.items()))
    flags.append("gold" if c.get("overlaps_gold") else "not gold")
    return f"{c.get('label')} ({', '.join(flags)})"


def render_summary(report: dict, previous: dict | None = None, chart_names: Sequence[str] = ()) -> str:
    """summary.md's text."""
    metrics = _metrics_of(report)
    retrieval_only = bool(report.get("retrieval_only")) or "answer_accuracy" not in metrics
    counts = metrics.get("counts") or {}
    lines = ["# Evaluation report", ""]
    details = [f"k = {report.get('k', 'n/a')}", "retrieval only" if retrieval_only else "retrieval and answers"]
    if counts:
        details.append(
            f"{counts.get('questions', 0)} questions ({counts.get('answerable', 0)} answerable, "
            f"{counts.get('unanswerable', 0)} unanswerable)"
        )
    for key in ("golden", "corpus", "model", "created"):
        if report.get(key):
            details.append(f"{key}: `{report[key]}`")
    lines += ["- " + d for d in details] + [""]

    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    keys = [m for m in REPORT_METRIC_KEYS if m in metrics]
    keys += [m for m in EXTRA_ANSWER_METRIC_KEYS if m in metrics]
    for m in keys:
        lines.append(f"| {_TITLES.get(m, m)} | {_fmt(metrics.get(m), m)} |")
    lines.append("")
    if not retrieval_only:
        lines += [
            f"Metric definitions: version {report.get('metrics_version', 1)} (evals/README.md, \"Metrics\"). "
            "Errors (model unavailable, exceptions) are left out of the answer, refusal and citation metrics.",
            "",
        ]

    outcomes = metrics.get("outcomes") or {}
    if outcomes:
        lines += [
            "### Outcomes (questions)",
            "",
            "| golden | " + " | ".join(title for _, title in _OUTCOME_TITLES) + " |",
            "|---|" + "---|" * len(_OUTCOME_TITLES),
        ]
        for group in ("answerable", "unanswerable"):
            row = outcomes.get(group) or {}
            lines.append(f"| {group} | " + " | ".join(str(row.get(key, 0)) for key, _ in _OUTCOME_TITLES) + " |")
        if counts.get("citations") is not None:
            lines += [
                "",
                f"{counts.get('citations', 0)} citations, {counts.get('citations_repaired', 0)} of them repaired "
                "(the model cited another place; the service corrected it).",
                f"{counts.get('second_answers', 0)} questions answered a second time over the best-ranked lines "
                f"(no line stated the first answer); {counts.get('second_answers_shown', 0)} of those answers shown.",
            ]
        lines.append("")

    stages = metrics.get("latency_by_stage") or {}
    if stages:
        lines += ["### Latency by stage (ms)", "", "| stage | p50 | p95 |", "|---|---|---|"]
        for stage, st in stages.items():
            lines.append(f"| {_cell(stage)} | {_fmt(st.get('p50'), 'latency')} | {_fmt(st.get('p95'), 'latency')} |")
        lines.append("")

    by_type = metrics.get("by_type") or {}
    if by_type:
        cols = _by_type_columns(retrieval_only)
        lines += [
            "## By question type",
            "",
            "| type | questions | " + " | ".join(_TITLES.get(c, c) for c in cols) + " |",
            "|---|---|" + "---|" * len(cols),
        ]
        for type_name, entry in by_type.items():
            values = " | ".join(_fmt(entry.get(c), c) for c in cols)
            lines.append(f"| {_cell(type_name)} | {entry.get('questions', 'n/a')} | {values} |")
        lines.append("")

    if previous is not None:
        rows = compare_reports(report, previous)
        lines += ["## Comparison with previous report", ""]
        flagged = [r["metric"] for r in rows if r["regression"]]
        lines.append(
            f"**REGRESSION** in: {', '.join(_TITLES.get(m, m) for m in flagged)}" if flagged else "No regressions."
        )
        lines += ["", "| metric | previous | current | delta | flag |", "|---|---|---|---|---|"]
        notes = []
        for r in rows:
            flag = "REGRESSION" if r["regression"] else ""
            if r.get("note"):
                notes.append(r["note"])
                flag = (flag + " " if flag else "") + f"[{len(notes)}]"
            lines.append(
                f"| {_TITLES.get(r['metric'], r['metric'])} | {_fmt(r['previous'], r['metric'])} | "
                f"{_fmt(r['current'], r['metric'])} | {_fmt_delta(r)} | {flag} |"
            )
        lines += [
            "",
            f"Tolerances: rates {ABSOLUTE_TOLERANCE}, latency +{LATENCY_RELATIVE_TOLERANCE:.0%}.",
            "",
        ]
        if notes:
            lines += [f"[{i}] {_cell(note, 300)}" + ("  " if i < len(notes) else "") for i, note in enumerate(notes, start=1)]
            lines.append("")

    records = report.get("questions") or []
    if records:
        worst = worst_questions(records, 5)
        lines += [f"## {len(worst)} worst questions", ""]
        for r in worst:
            lines.append(f"### {_cell(r.get('id'))} ({_cell(r.get('type') or 'untyped')}): {_cell(r.get('question'), 300)}")
            lines.append("")
            if r.get("answerable"):
                refs = "; ".join(_cell(a, 120) for a in r.get("references") or []) or "n/a"
                gold = ", ".join(e.get("label", "") for e in r.get("evidence") or []) or "n/a"
                lines.append(f"- expected: {refs}")
                lines.append(f"- gold evidence: {gold}")
            else:
                lines.append("- expected: refusal (unanswerable)")
            retrieved = ", ".join(
                f"{p.get('label')}{' ✓' if p.get('overlaps_gold') else ''}" for p in r.get("retrieved") or []
            )
            lines.append(
                f"- retrieved (✓ overlaps gold): {retrieved or 'nothing'}; hit {_fmt(r.get('hit'))}, "
                f"reciprocal rank {_fmt(r.get('reciprocal_rank'))}"
            )
            if r.get("answered"):
                kind = {
                    "refused_not_in_documents": ", a refusal (not in documents)",
                    "refused_unverified": ", a refusal (unverified)",
                    "error": ", an error",
                }.get(r.get("outcome") or "", ", a refusal" if r.get("refused") else "")
                lines.append(
                    f"- answer (status {_cell(r.get('status') or 'n/a')}{kind}): {_cell(r.get('answer', ''), 500)}"
                )
                if r.get("error"):
                    lines.append(f"- error: {_cell(r.get('error'), 300)}")
                lines.append(f"- correct: {_fmt(r.get('correct'))}, F1 {_fmt(r.get('f1'))}")
                cites = ", ".join(_citation_text(c) for c in r.get("citations") or [])
                lines.append(f"- citations: {cites or 'none'}")
                if r.get("answerable") and r.get("citation_recall") is not None:
                    cited = [e.get("label", "") for e in r.get("evidence") or [] if e.get("cited")]
                    lines.append(
                        f"- gold spans cited: {', '.join(cited) or 'none'} (citation recall {_fmt(r.get('citation_recall'))})"
                    )
                unsupported = [s for s in r.get("sentences") or [] if not s.get("supported")]
                for sentence in unsupported[:3]:
                    reason = f" ({_cell(sentence['reason'], 120)})" if sentence.get("reason") else ""
                    lines.append(f"- unsupported sentence: {_cell(sentence.get('text', ''), 200)}{reason}")
            if r.get("latency_ms") is not None:
                lines.append(f"- latency: {_fmt(r.get('latency_ms'), 'latency')} ms")
            lines.append("")

    if chart_names:
        lines += ["## Charts", ""]
        lines += [f"![{name}]({name})" for name in chart_names]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- charts


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _chart_by_type(metrics: dict, retrieval_only: bool, path: Path) -> bool:
    by_type = metrics.get("by_type") or {}
    cols = ["hit_at_k", "recall_at_k", "mrr"] if retrieval_only else ["hit_at_k", "answer_accuracy", "citation_recall"]
    groups = [("all", metrics)] + list(by_type.items())
    if not any(_number(entry.get(c)) is not None for _, entry in groups for c in cols):
        return False
    fig = _new_figure(max(6.0, 1.2 * len(groups) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(cols)
    for i, col in enumerate(cols):
        xs = [g + (i - (len(cols) - 1) / 2) * width for g in range(len(groups))]
        values = [_number(entry.get(col)) for _, entry in groups]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width, label=_TITLES.get(col, col))
        for bar, v in zip(bars, values):
            label, y = ("n/a", 0.01) if v is None else (f"{v:.2f}", v + 0.01)
            ax.text(bar.get_x() + bar.get_width() / 2, y, label, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([name for name, _ in groups], rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("score")
    ax.set_title("Metrics by question type")
    ax.legend(loc="upper center", ncol=len(cols), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return True


def _chart_latency(report: dict, path: Path) -> bool:
    metrics = _metrics_of(report)
    totals = [_number(r.get("latency_ms")) for r in report.get("questions") or []]
    totals = [t for t in totals if t is not None]
    stages = {s: v for s, v in (metrics.get("latency_by_stage") or {}).items() if _number(v.get("p50")) is not None}
    if not totals and not stages:
        return False
    fig = _new_figure(10.0, 4.0)
    ax1 = fig.add_subplot(1, 2, 1)
    if totals:
        ax1.hist(totals, bins=min(20, max(1, len(totals))), color="#4c72b0")
        for name, value in (("p50", metrics.get("latency_p50_ms")), ("p95", metrics.get("latency_p95_ms"))):
            if _number(value) is not None:
                ax1.axvline(value, linestyle="--", color="#c44e52" if name == "p95" else "#55a868", label=f"{name} {value:.0f} ms")
        ax1.legend(fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_title("Total latency per question")
    ax1.set_xlabel("ms")
    ax1.set_ylabel("questions")
    ax2 = fig.add_subplot(1, 2, 2)
    if stages:
        names = list(stages)
        p50 = [stages[s]["p50"] for s in names]
        p95 = [_number(stages[s].get("p95")) or 0.0 for s in names]
        xs = range(len(names))
        ax2.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
        ax2.bar([x + 0.2 for x in xs], p95, 0.4, label="p95")
        ax2.set_xticks(list(xs))
        ax2.set_xticklabels(names)
        ax2.legend(fontsize=8)
    ax2.set_title("Latency by stage")
    ax2.set_ylabel("ms")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return True


# --------------------------------------------------------------------------- entry point


def write_report(report: dict, out_dir: Path, previous: dict | None = None) -> list[Path]:
    """Write report.json, summary.md, metrics_by_type.png and latency.png into out_dir.

    Creates out_dir. With `previous` (an earlier report), report.json also holds
    a "comparison" list (compare_reports rows) and summary.md a comparison
    table. A chart with nothing to draw (no latencies, no metrics) is skipped.
    Retrieval-only reports chart hit@k / recall@k / MRR by type.
    Returns the paths written, report.json first.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = _metrics_of(report)
    retrieval_only = bool(report.get("retrieval_only")) or "answer_accuracy" not in metrics

    data = dict(report)
    if previous is not None:
        data["comparison"] = compare_reports(report, previous)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    written = [json_path]

    charts: list[Path] = []
    by_type_path = out_dir / "metrics_by_type.png"
    latency_path = out_dir / "latency.png"
    for path, drawn in (
        (by_type_path, _chart_by_type(metrics, retrieval_only, by_type_path)),
        (latency_path, _chart_latency(report, latency_path)),
    ):
        if drawn:
            charts.append(path)
        else:
            path.unlink(missing_ok=True)  # no stale chart from an earlier run

    summary_path = out_dir / "summary.md"
    summary_path.write_text(render_summary(report, previous, [p.name for p in charts]), encoding="utf-8")
    written.append(summary_path)
    written.extend(charts)
    return written
