"""A PDF end to end through the service and the API: passages and citations on a page, the page's
lines with their boxes, the page as an image, and a file changed since indexing refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_helpers import make_settings, wait_until_started
from tests.fakes import install_fake_llm

PAGES = [
    ["Quarterly report", "Revenue rose 8% to 280.2 billion yuan in the year to March, the company said.",
     "Cloud revenue grew 13% in the quarter."],
    ["Net income rose to 48.9 billion yuan in the fourth quar\u2010", "ter of the year, the company said on Thursday, beat\u2010",
     "ing the estimates of analysts.", "Shares rose 2% in early trade."],
]
PARAGRAPH = ("Net income rose to 48.9 billion yuan in the fourth quarter of the year, the company said on Thursday, "
             "beating the estimates of analysts.")


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with real text objects, made by matplotlib (no browser needed): one text line per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        for lines in pages:
            fig = plt.figure(figsize=(8.27, 11.69))
            for i, line in enumerate(lines):
                fig.text(0.1, 0.9 - i * 0.017, line, fontsize=11)
            pdf.savefig(fig)
            plt.close(fig)
    return path


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    from api.app import create_app
    from rag.embedder import Embedder
    from rag.service import RagService

    root = tmp_path_factory.mktemp("paged")
    corpus = root / "corpus"
    corpus.mkdir()
    write_pdf(corpus / "report.pdf", PAGES)
    (corpus / "notes.txt").write_text("Meeting notes\nThe board met on Monday.\n", encoding="utf-8")
    settings = make_settings(root / "index", corpus, search_processes=0)
    service = RagService(settings, embedder=Embedder("all-MiniLM-L6-v2"))
    stats = service.index([corpus], progress=False)
    app = create_app(settings, service, warm_up=True, load_llm=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert wait_until_started(client)["status"] == "ready"
        yield client, service, corpus, stats


def test_index_counts_pages(paged):
    _, _, _, stats = paged
    assert stats.files == 2 and stats.pages == 2


def test_search_finds_the_page_and_its_lines(paged):
    client, *_ = paged
    passages = client.get("/v1/search", params={"q": "net income in the fourth quarter", "k": 3}).json()["passages"]
    best = passages[0]
    assert (best["source"], best["page"], best["start_line"]) == ("report.pdf", 2, 1)
    assert best["text"].split("\n")[0] == PAGES[1][0]


def test_sources_gives_a_page_with_boxes(paged):
    client, *_ = paged
    body = client.get("/v1/sources/report.pdf", params={"page": 2, "start": 2, "end": 3}).json()
    assert body["lines"] == PAGES[1][1:3] and (body["page"], body["pages"], body["total_lines"]) == (2, 2, 4)
    assert len(body["boxes"]) == 2 and body["page_width"] > 500
    x0, top, x1, bottom = body["boxes"][0]
    assert 0 <= x0 < x1 <= body["page_width"] and 0 <= top < bottom <= body["page_height"]
    assert client.get("/v1/sources/report.pdf").json()["lines"] == PAGES[0]  # page 1 by default
    text = client.get("/v1/sources/notes.txt").json()
    assert "page" not in text and text["lines"][0] == "Meeting notes"


@pytest.mark.parametrize("path, params, status, words", [
    ("/v1/sources/report.pdf", {"page": 3}, 400, "2 pages"),
    ("/v1/sources/notes.txt", {"page": 1}, 400, "no pages"),
    ("/v1/sources/report.pdf", {"page": 2, "start": 9}, 400, "4 lines"),
    ("/v1/pages/report.pdf", {"page": 3}, 400, "2 pages"),
    ("/v1/pages/notes.txt", {"page": 1}, 400, "no pages"),
    ("/v1/pages/missing.pdf", {"page": 1}, 404, "not an indexed source"),
    ("/v1/pages/report.pdf", {"page": 1, "width": 5000}, 422, None),
])
def test_bad_page_requests_are_clear_errors(paged, path, params, status, words):
    client, *_ = paged
    response = client.get(path, params=params)
    assert response.status_code == status
    if words:
        assert words in response.json()["detail"]


def test_a_page_is_rendered_as_png(paged):
    client, *_ = paged
    response = client.get("/v1/pages/report.pdf", params={"page": 2, "width": 400})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    from PIL import Image
    import io

    image = Image.open(io.BytesIO(response.content))
    assert image.size[0] == 400 and image.size[1] > 500  # A4 proportions


def test_a_citation_into_a_wrapped_paragraph_names_page_and_lines(paged):
    _, service, _, _ = paged
    fake = install_fake_llm()
    fake.queue(f"{PARAGRAPH} [report.pdf:p2:2]")
    answer = service.ask("What was the net income in the fourth quarter?")
    assert answer.status == "answered", answer.sentences
    (citation,) = answer.citations
    assert (citation.source, citation.page, citation.start_line, citation.end_line) == ("report.pdf", 2, 1, 3)
    assert citation.label == "[report.pdf:p2:1-3]" and "[report.pdf:p2:1-3]" in answer.answer
    assert citation.quote == "\n".join(PAGES[1][:3])
    assert [span.line for span in citation.spans] == [1, 2, 3]
    for span in citation.spans:
        line = PAGES[1][span.line - 1]
        assert 0 <= span.start_char < span.end_char <= len(line)
    fake.reset()


def test_a_changed_file_is_not_rendered(paged, tmp_path):
    client, _, corpus, _ = paged
    pdf = corpus / "report.pdf"
    original = pdf.read_bytes()
    try:
        write_pdf(pdf, [["Something else entirely"]])
        time.sleep(0.01)
        response = client.get("/v1/pages/report.pdf", params={"page": 1})
        assert response.status_code == 409 and "changed since it was indexed" in response.json()["detail"]
    finally:
        pdf.write_bytes(original)
    assert client.get("/v1/pages/report.pdf", params={"page": 1}).status_code == 200


def test_an_unchanged_pdf_is_neither_parsed_nor_embedded_again(settings, fake_embedder, tmp_path, monkeypatch):
    import rag.loaders.pdf
    from rag.indexer import Indexer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_pdf(corpus / "report.pdf", PAGES)
    first = Indexer(settings, fake_embedder).build([corpus])
    assert first.pages == 2 and first.embedded_chunks > 0

    def never(data: bytes, source: str):
        raise AssertionError("an unchanged PDF was parsed again")

    monkeypatch.setattr(rag.loaders.pdf, "read_pdf", never)
    again = Indexer(settings, fake_embedder).build([corpus])
    assert (again.reused_files, again.embedded_chunks, again.pages, again.chunks) == (1, 0, 2, first.chunks)

    write_pdf(corpus / "report.pdf", [*PAGES, ["A third page was added."]])
    monkeypatch.undo()
    changed = Indexer(settings, fake_embedder).build([corpus])
    assert changed.changed_files == ["report.pdf"] and changed.pages == 3
