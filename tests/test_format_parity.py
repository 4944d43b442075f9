"""The seed articles as PDF (printed by headless Chromium), HTML and Word retrieve as well as the .txt
originals: hit@5 on the seeds golden set, its evidence mapped onto each version by the words it holds."""

from __future__ import annotations

import json

import pytest

from chromium import require_chromium
from format_parity import build_corpora, map_golden
from rag.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

SEEDS = PROJECT_ROOT / "seeds"
GOLDEN = PROJECT_ROOT / "evals" / "golden" / "seeds.jsonl"

require_chromium()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    from rag.evaluation.runner import run_eval
    from rag.service import RagService
    from rag.settings import Settings

    work = tmp_path_factory.mktemp("formats")
    folders = build_corpora(SEEDS, work)
    service = RagService(Settings(llm_model="fake/model", index_dir=work / "index"))
    out = {}
    for fmt, folder in folders.items():
        golden = GOLDEN if fmt == "txt" else map_golden(GOLDEN, SEEDS, folder, f".{fmt}", work / f"golden-{fmt}.jsonl")
        over = service.over_index(work / f"index-{fmt}")
        over.index([folder], progress=False)
        out[fmt] = (run_eval(over, golden, retrieval_only=True, progress=False), golden)
    return out


def test_every_gold_span_is_found_in_every_version(reports):
    for fmt, (_, golden) in reports.items():
        for line in golden.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert bool(row["evidence"]) == row["answerable"], (fmt, row["id"])
            if fmt == "pdf":
                assert all(ev["page"] >= 1 for ev in row["evidence"] if ev.get("lines")), row["id"]


@pytest.mark.parametrize("fmt", ["pdf", "html", "docx"])
def test_retrieval_is_within_two_points_of_text(reports, fmt):
    text = reports["txt"][0]["metrics"]["hit_at_k"]
    other = reports[fmt][0]["metrics"]["hit_at_k"]
    print(f"hit@5 txt {text:.3f} {fmt} {other:.3f}")
    assert other >= text - 0.02, (fmt, other, text)


def test_pdf_passages_name_their_page(reports):
    questions = reports["pdf"][0]["questions"]
    retrieved = [p for q in questions for p in q["retrieved"]]
    assert retrieved and all(p["page"] >= 1 and ":p" in p["label"] for p in retrieved)
