"""Checks on the golden question files (JSON Lines), fast and model-free.

Covers the project's own golden set (evals/golden/seeds.jsonl over seeds/), the
ClapNQ dev split shipped beside it (evals/golden/clapnq/dev.jsonl over its docs/ folder)
and the SQuAD 2.0-style set written over those passages (evals/golden/squadlike/).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS_GOLDEN = ROOT / "evals" / "golden" / "seeds.jsonl"
SEEDS_CORPUS = ROOT / "seeds"
CLAPNQ_DIR = ROOT / "evals" / "golden" / "clapnq"
CLAPNQ_GOLDEN = CLAPNQ_DIR / "dev.jsonl"
CLAPNQ_CORPUS = CLAPNQ_DIR / "docs"
SQUADLIKE_GOLDEN = ROOT / "evals" / "golden" / "squadlike" / "squadlike-40.jsonl"

REQUIRED_KEYS = {"id": str, "question": str, "answers": list, "evidence": list, "answerable": bool}
ALLOWED_TYPES = {"fact", "number", "entity", "multi_doc", "conflict", "paraphrase", "unanswerable"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=None)
def _file_lines(path: Path) -> tuple[str, ...]:
    """Lines of a corpus file: UTF-8, split on "\\n", trailing "\\r" stripped.

    A final newline ends the last line; it does not start an extra empty one.
    """
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return tuple(line[:-1] if line.endswith("\r") else line for line in lines)


def _load(path: Path) -> list[tuple[int, dict]]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:  # pragma: no cover - failure path
                pytest.fail(f"{path.name}:{lineno}: not valid JSON: {exc}")
            assert isinstance(obj, dict), f"{path.name}:{lineno}: not a JSON object"
            records.append((lineno, obj))
    return records


def _datasets():
    return [
        pytest.param(SEEDS_GOLDEN, SEEDS_CORPUS, id="seeds"),
        pytest.param(CLAPNQ_GOLDEN, CLAPNQ_CORPUS, id="clapnq"),
        pytest.param(SQUADLIKE_GOLDEN, CLAPNQ_CORPUS, id="squadlike"),
    ]


def _records(golden: Path, corpus: Path) -> list[tuple[int, dict]]:
    assert golden.is_file(), f"missing golden file {golden}"
    assert corpus.is_dir(), f"missing corpus folder {corpus}"
    records = _load(golden)
    assert records, f"{golden} holds no questions"
    return records


@pytest.mark.parametrize("golden,corpus", _datasets())
def test_schema_and_ids(golden: Path, corpus: Path) -> None:
    records = _records(golden, corpus)
    problems = []
    ids = Counter()
    for lineno, rec in records:
        where = f"{golden.name}:{lineno}"
        for key, typ in REQUIRED_KEYS.items():
            if key not in rec:
                problems.append(f"{where}: missing key {key!r}")
            elif not isinstance(rec[key], typ):
                problems.append(f"{where}: {key!r} should be {typ.__name__}")
        if problems and problems[-1].startswith(where):
            continue
        ids[rec["id"]] += 1
        if not rec["id"].strip() or not rec["question"].strip():
            problems.append(f"{where}: empty id or question")
        if not all(isinstance(a, str) and a.strip() for a in rec["answers"]):
            problems.append(f"{where}: answers must be non-empty strings")
        for ev in rec["evidence"]:
            if not isinstance(ev, dict) or not isinstance(ev.get("source"), str):
                problems.append(f"{where}: evidence item needs a string 'source': {ev!r}")
                continue
            lines = ev.get("lines")
            if lines is not None and not (
                isinstance(lines, list)
                and len(lines) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in lines)
            ):
                problems.append(f"{where}: evidence 'lines' must be null or [start, end]: {lines!r}")
        if rec["answerable"]:
            if not rec["answers"]:
                problems.append(f"{where}: answerable question without answers")
            if not rec["evidence"]:
                problems.append(f"{where}: answerable question without evidence")
        else:
            if rec["answers"] or rec["evidence"]:
                problems.append(f"{where}: unanswerable question must have empty answers and evidence")
    dupes = [i for i, n in ids.items() if n > 1]
    if dupes:
        problems.append(f"duplicate ids: {dupes[:10]}")
    assert not problems, "\n".join(problems[:50])


@pytest.mark.parametrize("golden,corpus", _datasets())
def test_evidence_spans_exist(golden: Path, corpus: Path) -> None:
    records = _records(golden, corpus)
    problems = []
    for lineno, rec in records:
        where = f"{golden.name}:{lineno} ({rec.get('id')})"
        for ev in rec.get("evidence", []):
            src = ev.get("source") if isinstance(ev, dict) else None
            if not isinstance(src, str):
                continue  # reported by test_schema_and_ids
            path = (corpus / src).resolve()
            if corpus.resolve() not in path.parents or not path.is_file():
                problems.append(f"{where}: source {src!r} not found in {corpus}")
                continue
            lines = ev.get("lines")
            if lines is None:
                continue
            n = len(_file_lines(path))
            start, end = lines
            if not (1 <= start <= end <= n):
                problems.append(f"{where}: lines {lines} outside 1..{n} of {src}")
    assert not problems, "\n".join(problems[:50])


def _seeds_records() -> list[tuple[int, dict]]:
    assert SEEDS_GOLDEN.is_file(), f"missing golden file {SEEDS_GOLDEN}"
    return _load(SEEDS_GOLDEN)


def test_seeds_answers_appear_in_evidence() -> None:
    problems = []
    for lineno, rec in _seeds_records():
        if not rec.get("answerable"):
            continue
        span_texts = []
        for ev in rec.get("evidence", []):
            path = SEEDS_CORPUS / ev["source"]
            if not path.is_file():
                continue
            lines = _file_lines(path)
            if ev.get("lines") is None:
                span_texts.append(_norm("\n".join(lines)))
            else:
                start, end = ev["lines"]
                span_texts.append(_norm("\n".join(lines[start - 1 : end])))
        answers = [_norm(a) for a in rec.get("answers", []) if isinstance(a, str)]
        if not any(a and a in t for a in answers for t in span_texts):
            problems.append(f"seeds.jsonl:{lineno} ({rec.get('id')}): no answer appears verbatim in any evidence span")
    assert not problems, "\n".join(problems)


def test_seeds_evidence_avoids_blank_lines() -> None:
    problems = []
    for lineno, rec in _seeds_records():
        for ev in rec.get("evidence", []):
            path = SEEDS_CORPUS / ev["source"]
            if not path.is_file() or ev.get("lines") is None:
                continue
            lines = _file_lines(path)
            start, end = ev["lines"]
            if not "".join(lines[start - 1 : end]).strip():
                problems.append(f"seeds.jsonl:{lineno} ({rec.get('id')}): evidence {ev} is blank")
    assert not problems, "\n".join(problems)


def test_seeds_size_and_types() -> None:
    records = [rec for _, rec in _seeds_records()]
    assert len(records) >= 40, f"only {len(records)} questions"
    unanswerable = [r for r in records if r.get("answerable") is False]
    assert len(unanswerable) >= 8, f"only {len(unanswerable)} unanswerable questions"
    bad = [(r.get("id"), r.get("type")) for r in records if r.get("type") not in ALLOWED_TYPES]
    assert not bad, f"missing or unknown type: {bad}"
    # "unanswerable" type and answerable flag agree
    mismatch = [r["id"] for r in records if (r["type"] == "unanswerable") == bool(r["answerable"])]
    assert not mismatch, f"type 'unanswerable' disagrees with 'answerable': {mismatch}"
    # ids in the project's own style
    assert all(re.fullmatch(r"seeds-\d{3}", r["id"]) for r in records)
