"""The HTML and DOCX readers: main text only and in order, charsets, tables, and hostile or broken files
skipped with one warning (tests/office_corpus.py makes the files)."""

from __future__ import annotations

import logging
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest

from office_corpus import (BOILERPLATE, QUARTERLY_TABLE, corrupt_docx, docx_with_table, encrypted_docx, news_page,
                           not_a_docx, read_seed, seed_docx, seed_html, zip_bomb_docx)
from rag.loaders import ReadLimits, Unreadable, read_document
from rag.loaders.docx import read_docx
from rag.loaders.html import read_html
from rag.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "seeds"


def _norm(text: str) -> str:
    return " ".join(text.split())


def _article_lines(page: Path) -> list[str]:
    title, paragraphs = read_seed(SEEDS / f"{page.stem}.txt")
    return [_norm(line) for line in (title, *paragraphs)]


@pytest.mark.parametrize("semantic", [True, False], ids=["html5-tags", "div-only"])
def test_seed_pages_give_the_article_and_nothing_else(tmp_path: Path, semantic: bool) -> None:
    pages = seed_html(SEEDS, tmp_path, semantic)
    assert len(pages) == len(list(SEEDS.glob("*.txt")))
    for page in pages:
        lines = read_html(page.read_bytes(), page.name).lines
        expected = _article_lines(page)
        article = "\n".join(expected)
        leaked = [text for text in BOILERPLATE if text not in article and any(text in line for line in lines)]
        assert not leaked, f"{page.name}: page furniture in the text"
        missing = [line for line in expected if line not in lines]
        assert not missing, f"{page.name}: article lines lost"
        assert lines == expected  # the title first, then one line per paragraph, in order


def test_html_through_read_document(tmp_path: Path) -> None:
    page = seed_html(SEEDS, tmp_path)[0]
    doc = read_document(page, page.name, ReadLimits(timeout_s=20))
    assert doc is not None and doc.lines == _article_lines(page)
    assert doc.pages is None and doc.boxes is None and doc.wrapped is None
    assert len(doc.sha256) == 64


def test_table_rows_and_list_items_are_lines() -> None:
    page = news_page("Alibaba results", ["Revenue rose in every quarter of the year, the company said on Thursday."],
                     table=QUARTERLY_TABLE)
    page = page.replace("</table>", "</table>\n<ul><li>Cloud revenue up 13%</li><li>AI products up for six "
                                    "quarters in a row</li></ul>")
    lines = read_html(page.encode(), "results.html").lines
    rows = [" | ".join(row) for row in QUARTERLY_TABLE]
    assert lines == ["Alibaba results", "Revenue rose in every quarter of the year, the company said on Thursday.",
                     *rows, "Cloud revenue up 13%", "AI products up for six quarters in a row"]


# cp1252 has every character; a single short paragraph also checks that a short article keeps none
# of the page's furniture.
_FRENCH = ("Le café coûte 3 € – « très cher » – et c’est l’œuvre de Noël, dit-il aux journalistes "
           "présents ce matin.")


@pytest.mark.parametrize("declaration", [
    '<meta charset="windows-1252">',
    '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">',  # read as windows-1252, as browsers do
])
def test_declared_single_byte_charset(declaration: str) -> None:
    page = news_page("Café prices", [_FRENCH]).replace('<meta charset="utf-8">', declaration)
    doc = read_html(page.encode("cp1252"), "cafe.html")
    assert doc.lines == ["Café prices", _FRENCH] and doc.notes == []


def test_undeclared_charset_is_utf8_else_cp1252_with_a_note() -> None:
    page = news_page("Café prices", [_FRENCH]).replace('<meta charset="utf-8">', "")
    assert read_html(page.encode("utf-8"), "cafe.html").lines == ["Café prices", _FRENCH]
    doc = read_html(page.encode("cp1252"), "cafe.html")
    assert doc.lines == ["Café prices", _FRENCH]
    assert doc.notes == ["declares no charset and is not valid UTF-8; read it as cp1252"]


def test_page_with_no_main_text() -> None:
    page = ('<html><head><title>Home</title></head><body><header><nav><ul><li><a href="/">Home</a></li>'
            '<li><a href="/news">World news</a></li></ul></nav></header>'
            '<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience and to '
            'show you personalised adverts.</p><button>Accept all cookies</button></div>'
            '<noscript>Please enable JavaScript to use this site.</noscript><div id="root"></div>'
            '<footer><a href="/privacy">Privacy policy</a><p>© 2025 Example Ltd. All rights reserved.</p></footer>'
            "</body></html>")
    with pytest.raises(Unreadable, match="^no main text found$"):
        read_html(page.encode(), "app.html")


def test_fragment_and_tagless_files_are_read() -> None:
    text = "A note saved from an editor as HTML, one paragraph long."
    assert read_html(f"<p>{text}</p>".encode(), "note.html").lines == [text]
    assert read_html(text.encode(), "note.html").lines == [text]


def test_malformed_html_is_read_or_unreadable(tmp_path: Path) -> None:
    page = seed_html(SEEDS, tmp_path)[2].read_bytes()
    truncated = page[: len(page) // 2]
    assert _norm(read_seed(SEEDS / "002_9fd4f84746180eec.txt")[1][0]) in read_html(truncated, "cut.html").lines
    nasty = [b"", b"<<<>>>", b"</p></div></html>", b"<html><body><p>unclosed <b><i>tags" * 50,
             b"<div>" * 100_000 + b"deep", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"<meta charset=\"no-such-codec\">x",
             page.replace(b"<p>", b"<p \x00 =\"\">", 5), bytes(range(256)) * 8]
    for data in nasty:
        try:
            read_html(data, "nasty.html")
        except Unreadable:
            pass


def test_docx_paragraphs_heading_and_table_in_order(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    expected = docx_with_table(path)
    doc = read_docx(path.read_bytes(), path.name)
    assert doc.lines == expected
    assert "Quarter | Revenue (¥ bn) | Net income (¥ bn)" in doc.lines
    assert doc.pages is None and doc.boxes is None and doc.wrapped is None


def test_docx_vertically_merged_cell_once(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=3, cols=2)
    for row, (region, sales) in zip(table.rows, [("Region", "Sales"), ("North", "10"), ("", "12")]):
        row.cells[0].text, row.cells[1].text = region, sales
    table.cell(1, 0).merge(table.cell(2, 0))
    path = tmp_path / "merged.docx"
    document.save(str(path))
    assert read_docx(path.read_bytes(), path.name).lines == ["Region | Sales", "North | 10", "| 12"]


def test_seed_docx(tmp_path: Path) -> None:
    paths = seed_docx(SEEDS, tmp_path)
    for path in paths:
        assert read_docx(path.read_bytes(), path.name).lines == _article_lines(path)
    doc = read_document(paths[1], paths[1].name, ReadLimits(timeout_s=20))
    assert doc is not None and doc.lines == _article_lines(paths[1]) and doc.pages is None


def _zip_without_document(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")  # a spreadsheet under a .docx name


@pytest.mark.parametrize(("make", "reason"), [
    (zip_bomb_docx, "its zip entries expand to 120 MB, over the 100 MB limit"),
    (lambda path: zip_bomb_docx(path, entry_mb=20), "zip entry word/document.xml expands"),
    (corrupt_docx, "not a DOCX file: not a zip archive"),
    (not_a_docx, "not a DOCX file: not a zip archive"),
    (encrypted_docx, "encrypted or not a DOCX file"),
    (_zip_without_document, r"not a Word document \(no word/document.xml in the zip\)"),
], ids=["zip-bomb-total", "zip-bomb-ratio", "truncated", "random-bytes", "encrypted", "not-word"])
def test_hostile_docx_is_skipped_quickly(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                        make: Callable[[Path], None], reason: str) -> None:
    path = tmp_path / "bad.docx"
    make(path)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(Unreadable, match=reason):
            read_docx(path.read_bytes(), path.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # the refusal reads the zip's directory, never an entry
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        # the smallest memory bound read_document allows: refused before anything is inflated
        assert read_document(path, "docs/bad.docx", ReadLimits(timeout_s=10, memory_mb=64)) is None
    assert time.monotonic() - started < 5
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("skipped docs/bad.docx: ") and re.search(reason, warnings[0])
