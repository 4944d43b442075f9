"""Bad files never stop a build: each is skipped with one warning line naming it and the reason, a
scanned PDF is counted apart, and everything else is indexed."""

from __future__ import annotations

import logging

import pytest

from chromium import require_chromium
from office_corpus import corrupt_docx, not_a_docx, zip_bomb_docx
from pdf_corpus import encrypted_pdf, malformed_pdf, pdf_printer, scanned_pdf, truncated_pdf

pytestmark = [pytest.mark.slow, pytest.mark.browser]

require_chromium()


def test_a_build_skips_every_bad_file_and_indexes_the_rest(settings, fake_embedder, tmp_path, caplog):
    from rag.indexer import Indexer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Alibaba's net income rose to 48.9 billion yuan.\n", encoding="utf-8")
    with pdf_printer() as printer:
        printer("<h1>Good PDF</h1><p>Cloud revenue grew 13% in the quarter.</p>", corpus / "good.pdf")
        encrypted_pdf(corpus / "locked.pdf", printer)
        truncated_pdf(corpus / "cut.pdf", printer)
        scanned_pdf(corpus / "scan.pdf", printer)
    malformed_pdf(corpus / "junk.pdf")
    zip_bomb_docx(corpus / "bomb.docx")
    corrupt_docx(corpus / "broken.docx")
    not_a_docx(corpus / "random.docx")
    with open(corpus / "huge.pdf", "wb") as handle:  # 200 MB on paper, sparse on disk
        handle.truncate(200 * 1024 * 1024)
    bad = ["locked.pdf", "cut.pdf", "scan.pdf", "junk.pdf", "bomb.docx", "broken.docx", "random.docx", "huge.pdf"]

    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        stats = Indexer(settings, fake_embedder).build([corpus])
    assert stats.files == 2 and stats.skipped_files == len(bad) and stats.no_text_layer_files == 1
    assert "1 without a text layer (scanned)" in stats.summary()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for name in bad:
        mine = [w for w in warnings if w.startswith(f"skipped {name}: ")]
        assert len(mine) == 1, (name, warnings)
        assert "\n" not in mine[0] and len(mine[0]) < 300
    assert "encrypted" in next(w for w in warnings if w.startswith("skipped locked.pdf"))
    assert "scanned" in next(w for w in warnings if w.startswith("skipped scan.pdf"))
    assert "byte limit" in next(w for w in warnings if w.startswith("skipped huge.pdf"))

    from rag.stores.faiss import load_snapshot

    indexed = load_snapshot(settings.index_dir).documents
    assert sorted(indexed) == ["good.pdf", "good.txt"] and indexed["good.pdf"].pages[0].line_count == 2
