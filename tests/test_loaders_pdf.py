"""The PDF reader (rag/loaders/pdf.py) on a corpus printed by headless Chromium (tests/pdf_corpus.py):
the seed articles, two columns (as CSS columns, and as lines the file draws row by row), running
headers and footers, hyphenation, scans, and files it must refuse with a reason.

The corpus is printed once per module; its tests are marked slow and browser, and skip where
/usr/bin/chromium is missing (outside CI). The tests that need no browser build their PDFs with pypdf.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from difflib import SequenceMatcher
from pathlib import Path

import pytest

import pdf_corpus
from chromium import CHROMIUM, MISSING
from rag.loaders import Document, NoTextLayer, ReadLimits, Unreadable, read_document
from rag.loaders.bounded import read_bounded
from rag.loaders.pdf import read_pdf
from rag.settings import PROJECT_ROOT
from rag.text import join_wrapped

SEEDS = PROJECT_ROOT / "seeds"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    if not CHROMIUM.is_file() and not os.environ.get("CI"):
        pytest.skip(MISSING)
    if not os.environ.get("CI"):  # in CI a missing package must fail, not skip
        pytest.importorskip("playwright.sync_api")
    return pdf_corpus.build_corpus(tmp_path_factory.mktemp("pdf-corpus"), SEEDS)


@pytest.fixture(scope="module")
def read(corpus):
    """read(name) -> the Document read_pdf makes of that corpus file (each read once)."""
    cache: dict[str, Document] = {}

    def read_one(name: str) -> Document:
        if name not in cache:
            cache[name] = read_pdf(corpus[name].read_bytes(), corpus[name].name)
        return cache[name]

    return read_one


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def letters(text: str) -> str:
    """Text without whitespace or hyphens: where lines fall in a paragraph, whatever broke them."""
    return squash(text).replace("-", "").replace("\u2010", "")


def page_lines(doc: Document, number: int) -> list[str]:
    page = doc.pages[number - 1]
    return doc.lines[page.first_line - 1: page.first_line - 1 + page.line_count]


def split_paragraphs(doc: Document, paragraphs: list[str]) -> list[list[str]]:
    """The document's lines cut where the source's paragraphs end, checking on the way that every
    paragraph starts on a line the reader did not mark wrapped, and that every line it did not mark
    wrapped starts a paragraph, a page or a column (wrapped never crosses those)."""
    ends, offset = set(), 0
    for text in paragraphs:
        offset += len(letters(text))
        ends.add(offset)
    page_starts = {page.first_line - 1 for page in doc.pages}
    groups: list[list[str]] = []
    offset = 0
    for index, (line, wrapped) in enumerate(zip(doc.lines, doc.wrapped, strict=True)):
        starts_paragraph = index == 0 or offset in ends
        if starts_paragraph:
            assert not wrapped, f"line {index + 1} starts a paragraph but is marked wrapped: {line!r}"
            groups.append([])
        elif not wrapped:
            column_start = doc.boxes[index][1] < doc.boxes[index - 1][1]  # back up the page
            assert index in page_starts or column_start, (
                f"line {index + 1} continues a paragraph but is not marked wrapped: {line!r}")
        groups[-1].append(line)
        offset += len(letters(line))
    return groups


def differences(got: str, want: str) -> list[tuple[str, str]]:
    """The runs of words where got and want differ in more than whitespace."""
    a, b = got.split(), want.split()
    return [(" ".join(a[i1:i2]), " ".join(b[j1:j2]))
            for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            if tag != "equal" and "".join(a[i1:i2]) != "".join(b[j1:j2])]


# ---------------------------------------------------------------------------- text and structure


@pytest.mark.parametrize("seed", sorted(path.stem for path in SEEDS.glob("*.txt")))
@pytest.mark.slow
@pytest.mark.browser
def test_seed_pdf_reads_as_its_paragraphs(read, seed):
    doc = read(f"seed:{seed}")
    paragraphs = pdf_corpus.seed_paragraphs(SEEDS / f"{seed}.txt")
    assert squash("".join(doc.lines)) == squash("".join(paragraphs))  # every character, in order
    groups = split_paragraphs(doc, paragraphs)
    assert len(groups) == len(paragraphs)
    for lines, paragraph in zip(groups, paragraphs):
        text, starts = join_wrapped(lines)
        assert len(starts) == len(lines)
        # Only white space may differ (a line broken inside "[1](https://..." is joined with a space);
        # every hyphen is kept: "high-" + "profile" is "high-profile".
        assert squash(text) == squash(paragraph)


@pytest.mark.slow
@pytest.mark.browser
def test_pages_lines_boxes_and_wrapped_agree(corpus, read):
    for name in corpus:
        if name in ("scanned", "encrypted", "truncated", "malformed"):
            continue
        doc = read(name)
        assert len(doc.boxes) == len(doc.wrapped) == len(doc.lines) > 0
        assert [page.number for page in doc.pages] == list(range(1, len(doc.pages) + 1))
        first = 1
        for page in doc.pages:
            assert page.first_line == first
            assert (page.width, page.height) == (595.92, 842.88)  # A4
            first += page.line_count
            for index in range(page.first_line - 1, page.first_line - 1 + page.line_count):
                x0, top, x1, bottom = doc.boxes[index]
                assert 0 <= x0 < x1 <= page.width and 0 <= top < bottom <= page.height, (name, index)
                line = doc.lines[index]
                assert line == line.strip() and "  " not in line and line.isprintable(), (name, line)
            if page.line_count:
                assert not doc.wrapped[page.first_line - 1]
        assert first == len(doc.lines) + 1


@pytest.mark.slow
@pytest.mark.browser
def test_boxes_are_where_the_lines_are_printed(corpus, read):
    """Rendered at 1 pixel per point, each line's box holds ink, and the rows between lines do not."""
    import pypdfium2

    doc = read("seed:003_02a43008e7f09149")
    pdf = pypdfium2.PdfDocument(corpus["seed:003_02a43008e7f09149"])
    try:
        image = pdf[0].render(scale=1).to_pil().convert("L")
    finally:
        pdf.close()
    page = doc.pages[0]
    assert image.width == round(page.width)
    boxes = doc.boxes[: page.line_count]
    for x0, top, x1, bottom in boxes:
        ink = image.crop((round(x0), round(top), round(x1), round(bottom)))
        assert ink.getextrema()[0] < 100  # dark pixels: text
        beyond = image.crop((round(x1) + 2, round(top) + 2, round(page.width) - 5, round(bottom) - 2))
        assert beyond.width <= 0 or beyond.getextrema()[0] > 200  # nothing printed right of the line
    for (_, _, _, bottom), (_, top, _, _) in zip(boxes, boxes[1:]):
        if top - bottom >= 3:
            gap = image.crop((0, round(bottom) + 1, round(page.width), round(top) - 1))
            assert gap.getextrema()[0] > 200


@pytest.mark.slow
@pytest.mark.browser
def test_two_columns_are_read_one_after_the_other(read):
    doc = read("two_column")
    assert len(doc.pages) == 3
    assert squash("".join(doc.lines)) == squash("".join(pdf_corpus.TWO_COLUMN_PARAGRAPHS))
    groups = split_paragraphs(doc, pdf_corpus.TWO_COLUMN_PARAGRAPHS)
    assert [join_wrapped(lines)[0] for lines in groups] == pdf_corpus.TWO_COLUMN_PARAGRAPHS
    for page in doc.pages[:2]:
        middle = page.width / 2
        sides = [doc.boxes[index][0] > middle for index in range(page.first_line - 1,
                                                                 page.first_line - 1 + page.line_count)]
        assert sides == sorted(sides) and any(sides) and not all(sides)  # left column, then right column
        for index in range(page.first_line - 1, page.first_line - 1 + page.line_count):
            x0, _, x1, _ = doc.boxes[index]
            assert x1 < middle or x0 > middle  # no line runs across the gutter


@pytest.mark.slow
@pytest.mark.browser
def test_columns_the_file_draws_row_by_row_are_still_read_one_after_the_other(read):
    left, right = pdf_corpus.INTERLEAVED_COLUMNS
    assert read("interleaved_columns").lines == left + right


@pytest.mark.slow
@pytest.mark.browser
def test_running_headers_and_footers_are_left_out(read):
    doc = read("header_footer")
    assert len(doc.pages) == 4
    assert not [line for line in doc.lines if pdf_corpus.HEADER_TEXT in line or re.search(r"Page \d+ of \d+", line)]
    assert squash("".join(doc.lines)) == squash("".join(pdf_corpus.HEADER_FOOTER_PARAGRAPHS))
    groups = split_paragraphs(doc, pdf_corpus.HEADER_FOOTER_PARAGRAPHS)
    assert [join_wrapped(lines)[0] for lines in groups] == pdf_corpus.HEADER_FOOTER_PARAGRAPHS


@pytest.mark.slow
@pytest.mark.browser
def test_hyphenated_words_come_back_whole(read):
    doc = read("hyphenated")
    broken = [line for line in doc.lines if line.endswith("\u2010")]  # a word broken to fit, marked so
    assert len(broken) >= 10  # the narrow column did break words
    assert not any("\u00ad" in line or "\u2010" in line[:-1] for line in doc.lines)
    groups = split_paragraphs(doc, pdf_corpus.HYPHENATED_PARAGRAPHS)
    assert [join_wrapped(lines)[0] for lines in groups] == pdf_corpus.HYPHENATED_PARAGRAPHS
    halves = {line.split()[-1].rstrip("\u2010").lower() for line in broken}
    assert halves and all(any(word.startswith(half) for word in pdf_corpus.HYPHENATED_WORDS) for half in halves)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_pages_read_the_same(corpus, read, rotation):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(corpus["two_column"]))
    for page in writer.pages:
        page.rotate(rotation)
    buffer = io.BytesIO()
    writer.write(buffer)
    doc, upright = read_pdf(buffer.getvalue(), "rotated.pdf"), read("two_column")
    assert doc.lines == upright.lines and doc.wrapped == upright.wrapped
    page = doc.pages[0]
    assert (page.width, page.height) == ((842.88, 595.92) if rotation % 180 else (595.92, 842.88))
    for x0, top, x1, bottom in doc.boxes:
        assert 0 <= x0 < x1 <= page.width and 0 <= top < bottom <= page.height


# ---------------------------------------------------------------------------- through read_document


@pytest.mark.slow
@pytest.mark.browser
def test_read_document_reads_a_pdf_in_the_bounded_child(corpus, read):
    path = corpus["seed:000_c7bc9c907a8bee7e"]
    doc = read_document(path, "articles/000.pdf", ReadLimits())
    assert doc is not None and doc.source == "articles/000.pdf" and len(doc.sha256) == 64
    expected = read("seed:000_c7bc9c907a8bee7e")
    assert (doc.lines, doc.pages, doc.boxes, doc.wrapped) == (expected.lines, expected.pages, expected.boxes,
                                                              expected.wrapped)


@pytest.mark.slow
@pytest.mark.browser
def test_a_scan_raises_no_text_layer(corpus, caplog):
    with caplog.at_level(logging.WARNING, logger="rag.loaders"), pytest.raises(NoTextLayer) as raised:
        read_document(corpus["scanned"], "scanned.pdf", ReadLimits())
    assert "no text layer (2 pages of images)" in str(raised.value) and "OCR" in str(raised.value)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "scanned.pdf" in messages[0] and "no text layer" in messages[0]


@pytest.mark.slow
@pytest.mark.browser
def test_pages_of_images_among_text_pages_are_noted(corpus, read, caplog):
    doc = read("partly_scanned")
    assert [page.line_count > 0 for page in doc.pages] == [True, False, False, True]
    assert doc.notes == ["pages 2, 3 have no text layer (images only: OCR would make them searchable)"]
    assert squash("".join(doc.lines)) == squash("".join(pdf_corpus.TWO_COLUMN_PARAGRAPHS[:4]))
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert read_document(corpus["partly_scanned"], "mixed.pdf", ReadLimits()) is not None
    assert [record.getMessage() for record in caplog.records] == [f"mixed.pdf: {doc.notes[0]}"]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name, reason", [
    ("encrypted", "encrypted: it needs a password"),
    ("truncated", "truncated: the end of the file is missing"),
    ("malformed", "not a readable PDF (it is damaged)"),
])
def test_unreadable_pdfs_are_skipped_with_the_reason(corpus, caplog, name, reason):
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert read_document(corpus[name], f"in/{name}.pdf", ReadLimits()) is None
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and f"in/{name}.pdf" in messages[0] and reason in messages[0], messages


# ---------------------------------------------------------------------------- no browser needed


def test_not_a_pdf_is_unreadable(tmp_path, caplog):
    path = tmp_path / "notes.pdf"
    path.write_text("just some text, saved with the wrong name\n")
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert read_document(path, "notes.pdf", ReadLimits()) is None
    assert [record.getMessage() for record in caplog.records] == ["skipped notes.pdf: not a PDF (no %PDF header)"]


def test_a_pdf_cut_just_before_its_end_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    data = buffer.getvalue()
    assert read_pdf(data, "whole.pdf").lines == []
    with pytest.raises(Unreadable, match="truncated"):
        read_pdf(data[: data.rindex(b"%%EOF")], "cut.pdf")


def test_many_pages_stay_cheap():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(3000):
        writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    started = time.monotonic()
    doc = read_pdf(buffer.getvalue(), "blank.pdf")
    assert time.monotonic() - started < 10
    assert len(doc.pages) == 3000 and doc.lines == [] and doc.pages[-1].first_line == 1


def _hang(data: bytes, source: str) -> Document:
    time.sleep(60)
    raise AssertionError("not cut off")


def test_a_reader_that_hangs_is_cut_off(tmp_path, monkeypatch, caplog):
    started = time.monotonic()
    with pytest.raises(Unreadable, match="took longer than 1 s"):
        read_bounded(_hang, b"%PDF-", "slow.pdf", timeout_s=1, memory_mb=256)
    assert time.monotonic() - started < 10
    monkeypatch.setattr("rag.loaders.reader_for", lambda suffix: _hang)
    path = tmp_path / "slow.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert read_document(path, "slow.pdf", ReadLimits(timeout_s=1)) is None
    assert [record.getMessage() for record in caplog.records] == ["skipped slow.pdf: reading it took longer than 1 s"]
