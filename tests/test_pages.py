"""Paged documents through the index: page-local line numbers, chunks and passages that stay on one
page, wrapped lines shown and checked as one paragraph, and spans mapped back to the lines."""

from __future__ import annotations

import numpy as np

from rag.answer import _context_lines
from rag.check import find_evidence, line_spans
from rag.chunker import Chunker
from rag.citations import ContextLine, cited_lines
from rag.loaders import Document, Page
from rag.stores.faiss import DocumentRecord, load_snapshot, write_generation
from rag.text import join_wrapped, parse_marker
from rag.types import Chunk, Passage

# Two pages: page 1 holds lines 1-3, page 2 lines 4-7 (a paragraph wrapped over 4-6, then one line).
LINES = [
    "Quarterly report",
    "Revenue rose 8% to 280.2 billion yuan.",
    "Cloud revenue grew 13%.",
    "Net income rose to 48.9 billion yuan in the fourth quar\u2010",
    "ter, the company said on Thursday, beating",
    "analysts' estimates.",
    "Shares rose 2%.",
]
PAGES = [Page(1, 1, 3, 595.0, 842.0), Page(2, 4, 4, 595.0, 842.0)]
WRAPPED = [False, False, False, False, True, True, False]
BOXES = [[72.0, 72.0 + 14 * i, 500.0, 84.0 + 14 * i] for i in range(7)]


def _record() -> DocumentRecord:
    return DocumentRecord("report.pdf", "0" * 64, LINES, "Quarterly report", PAGES, BOXES, WRAPPED, "/x/report.pdf")


def test_lines_are_numbered_within_their_page():
    record = _record()
    assert [record.locate(n) for n in range(1, 8)] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (2, 4)]
    assert all(record.line_number(*record.locate(n)) == n for n in range(1, 8))
    text = DocumentRecord("a.txt", "0" * 64, LINES)
    assert text.locate(5) == (None, 5) and text.line_number(None, 5) == 5


def test_chunks_never_cross_a_page():
    doc = Document("report.pdf", LINES, pages=PAGES, wrapped=WRAPPED)
    chunks = Chunker(lambda lines: [len(line.split()) for line in lines], max_tokens=200)(doc)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 3), (4, 7)]


def test_a_wrapped_paragraph_is_one_context_unit_with_a_page_label():
    passage = Passage(source="report.pdf", page=2, start_line=1, end_line=4, text="\n".join(LINES[3:7]))
    units = _context_lines(passage, _record())
    assert [u.label for u in units] == ["[report.pdf:p2:1-3]", "[report.pdf:p2:4]"]
    paragraph = units[0]
    assert paragraph.text.startswith("Net income rose to 48.9 billion yuan in the fourth quarter, the company")
    assert paragraph.lines == tuple(LINES[3:6])


def test_a_citation_of_any_line_of_the_paragraph_finds_it():
    passage = Passage(source="report.pdf", page=2, start_line=1, end_line=4, text="")
    units = _context_lines(passage, _record())
    for marker, expected in (("report.pdf:p2:2", [0]), ("report.pdf:p2:1-3", [0]), ("report.pdf:p2:4", [1]),
                             ("report.pdf:p1:2", []), ("report.pdf:2", [0])):
        (raw,) = parse_marker(marker)
        assert cited_lines(raw, ["report.pdf"], units) == expected, marker


def test_spans_of_a_wrapped_sentence_are_given_per_line():
    text, parts = join_wrapped(LINES[3:6])
    evidence = find_evidence("Net income rose to 48.9 billion yuan in the fourth quarter.", "report.pdf", 1, text, 2,
                             end_line=3, lines=tuple(LINES[3:6]), parts=tuple(parts))
    spans = evidence.spans
    assert [s.line for s in spans] == [1, 2, 3]
    first, second = spans[0], spans[1]
    assert LINES[3][first.start_char : first.end_char] == "Net income rose to 48.9 billion yuan in the fourth quar"
    assert LINES[4][second.start_char : second.end_char].startswith("ter, the company said")
    assert evidence.quote == "\n".join(LINES[3:6])
    assert line_spans(7, (), 2, 5)[0].line == 7


def test_pages_survive_the_store(tmp_path):
    import faiss

    record = _record()
    chunk = Chunk("report.pdf", 1, 3, "\n".join(LINES[:3]))
    dense = faiss.IndexFlatIP(4)
    dense.add(np.ones((1, 4), dtype=np.float32))
    write_generation(tmp_path, {"embedding_model": "m", "dim": 4, "chunk_count": 1}, [chunk], [record], dense)
    loaded = load_snapshot(tmp_path).documents["report.pdf"]
    assert loaded.pages == PAGES and loaded.boxes == BOXES and loaded.wrapped == WRAPPED
    assert loaded.path == "/x/report.pdf" and loaded.locate(6) == (2, 3)


def test_context_lines_of_a_text_document_are_unchanged():
    record = DocumentRecord("a.txt", "0" * 64, ["  Title", "", "Body line."])
    passage = Passage(source="a.txt", start_line=1, end_line=3, text="")
    assert _context_lines(passage, record) == [
        ContextLine("a.txt", 1, "Title", raw="  Title"), ContextLine("a.txt", 3, "Body line.", raw="Body line."),
    ]


def test_the_end_of_a_paragraph_cut_by_a_page_break_is_a_chunk_of_its_own():
    lines = ["Title", "The company said its profit", "rose 8% in the quarter, and", "its shares rose.", "Next paragraph."]
    pages = [Page(1, 1, 2, 595.0, 842.0), Page(2, 3, 3, 595.0, 842.0)]
    doc = Document("r.pdf", lines, pages=pages, wrapped=[False, False, False, True, False])
    chunks = Chunker(lambda ls: [len(line.split()) for line in ls], max_tokens=200)(doc)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 2), (3, 4), (5, 5)]
