"""CI quality gate: a change that makes retrieval or answers worse fails here.

Thresholds sit just below the numbers measured when they were set (see the
README's "Latest numbers"); raise them when quality improves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluation.runner import run_eval
from rag.service import RagService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS_GOLDEN = ROOT / "evals" / "golden" / "seeds.jsonl"
CLAPNQ = ROOT / "evals" / "golden" / "clapnq"
# A small, mixed subset for the full answer gate: numbers, several sources, conflict, entities, unanswerable.
ANSWER_SUBSET = ["seeds-001", "seeds-010", "seeds-026", "seeds-017", "seeds-057", "seeds-061"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> RagService:
    settings = Settings(index_dir=tmp_path_factory.mktemp("gate-index"), model_cache_dir=Settings().model_cache_dir)
    service = RagService(settings)
    service.index([ROOT / "seeds"], progress=False)
    return service


def test_retrieval_gate_on_seeds(service):
    metrics = run_eval(service, SEEDS_GOLDEN, retrieval_only=True, progress=False)["metrics"]
    assert metrics["hit_at_k"] >= 0.88, metrics
    assert metrics["recall_at_k"] >= 0.75, metrics
    assert metrics["mrr"] >= 0.75, metrics


def test_retrieval_gate_on_clapnq(service, tmp_path):
    settings = service.settings.model_copy(update={"model_cache_dir": tmp_path})
    clapnq = RagService(settings, service.embedder)
    report = run_eval(clapnq, CLAPNQ / "dev.jsonl", corpus=CLAPNQ / "docs", retrieval_only=True, progress=False)
    metrics = report["metrics"]
    assert Path(report["index_dir"]).is_relative_to(tmp_path)  # its own index, not the default one
    assert metrics["hit_at_k"] >= 0.97, metrics
    assert metrics["recall_at_k"] >= 0.97, metrics
    assert metrics["mrr"] >= 0.95, metrics


def test_answer_gate_with_the_local_model(service, tmp_path):
    subset = tmp_path / "subset.jsonl"
    lines = [line for line in SEEDS_GOLDEN.read_text().splitlines() if json.loads(line)["id"] in ANSWER_SUBSET]
    subset.write_text("\n".join(lines) + "\n")
    metrics = run_eval(service, subset, progress=False)["metrics"]
    assert metrics["answer_accuracy"] >= 0.5, metrics
    assert metrics["citation_hit_rate"] >= 0.5, metrics  # the threshold once set on citation_recall (metrics v1)
    assert metrics["error_rate"] == 0.0, metrics  # the local model answered every question
    assert metrics["refusal_accuracy"] >= 0.5, metrics
