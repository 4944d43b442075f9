"""`rag eval`: run golden questions through the service and score them."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from rag.errors import InputError
from rag.evaluation.aggregate import build_report
from rag.evaluation.golden import load_golden
from rag.evaluation.scoring import score_question
from rag.service import RagService
from rag.types import Answer


def eval_index_dir(service: RagService, corpus: Path) -> Path:
    """An index folder of the corpus's own, keyed by its path, model and chunking; never the default index."""
    settings = service.settings
    key = json.dumps([str(corpus.resolve()), settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap_tokens])
    return settings.model_cache_dir / "eval-indexes" / hashlib.sha256(key.encode()).hexdigest()[:16]


def over_corpus(service: RagService, corpus: Path) -> RagService:
    """The service over an index of `corpus` alone (built or brought up to date now), never the default index."""
    index_dir = eval_index_dir(service, corpus)
    service = service.over_index(index_dir, f"{service.settings.milvus_collection}_eval_{index_dir.name}")
    service.index([corpus], progress=False)
    return service


def run_eval(
    service: RagService,
    golden_path: Path,
    corpus: Path | None = None,
    retrieval_only: bool = False,
    limit: int | None = None,
    k: int | None = None,
    mode: str = "hybrid",
    progress: bool = True,
) -> dict:
    questions = load_golden(golden_path)[:limit] if limit else load_golden(golden_path)
    if not questions:
        raise InputError(f"{golden_path} holds no questions")
    if corpus is not None:
        service = over_corpus(service, corpus)
    k = k or service.settings.top_k
    started = time.perf_counter()
    records = []
    iterator = questions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(questions, desc="retrieval eval" if retrieval_only else "eval", unit="q", file=sys.stderr)
    for golden in iterator:
        if retrieval_only:
            mark = time.perf_counter()
            passages = service.search(golden.question, k, mode)
            timings = {"retrieve": round((time.perf_counter() - mark) * 1000, 1)}
            timings["total"] = timings["retrieve"]
            records.append(score_question(golden, passages, None, k, timings_ms=timings))
            continue
        mark = time.perf_counter()
        try:
            answer: Answer = service.ask(golden.question)  # its own passage pool; the first k are scored
        except Exception as exc:  # one failed question is recorded as an error, not a refusal
            failed = error_answer(exc, service.settings.llm_model, (time.perf_counter() - mark) * 1000)
            records.append(score_question(golden, [], failed, k))
            continue
        records.append(score_question(golden, answer.passages, answer.model_dump(mode="json"), k, timings_ms=answer.timings_ms))
    return build_report(
        records,
        k,
        retrieval_only,
        golden=str(golden_path),
        corpus=str(corpus or service.settings.corpus),
        index_dir=str(service.index_dir),
        mode=mode,
        embedding_model=service.settings.embedding_model,
        model=None if retrieval_only else service.settings.llm_model,
        temperature=service.settings.llm_temperature,
        wall_time_s=round(time.perf_counter() - started, 1),
    )


def error_answer(exc: BaseException, model: str | None, elapsed_ms: float) -> dict:
    """The answer object recorded for a question whose answering raised: status "error" with the message."""
    message = str(exc).strip() or type(exc).__name__
    return {
        "answer": "",
        "answerable": False,
        "status": "error",
        "error": f"{type(exc).__name__}: {message}" if message != type(exc).__name__ else message,
        "citations": [],
        "passages": [],
        "sentences": [],
        "model": model,
        "timings_ms": {"total": round(elapsed_ms, 1)},
    }


def format_metrics(report: dict) -> str:
    rows = []
    for name, value in report["metrics"].items():
        if isinstance(value, dict):
            continue
        rows.append(f"{name:<28} {'n/a' if value is None else f'{value:.3f}' if isinstance(value, float) else value}")
    counts = report["metrics"].get("counts", {})
    header = f"{counts.get('questions', len(report['questions']))} questions, k={report['k']}, {report['wall_time_s']} s"
    return header + "\n" + "\n".join(rows)


def run_eval_command(args, service: RagService) -> int:
    from rag.evaluation.report import load_report, write_report

    if not args.golden.is_file():
        raise InputError(f"golden file {args.golden} does not exist")
    previous = load_report(args.compare) if args.compare else None
    report = run_eval(
        service,
        args.golden,
        corpus=args.corpus,
        retrieval_only=args.retrieval_only,
        limit=args.limit,
        k=args.k,
        mode=args.mode,
        progress=not args.no_progress,
    )
    if args.out:
        for path in write_report(report, args.out, previous):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(format_metrics(report))
    return 0
