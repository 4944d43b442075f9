"""Word files (.docx): the body's paragraphs and tables as lines, in document order, by python-docx.

Each non-empty paragraph (headings too, as their plain text) is one line; each table row is one
line with its cells joined by " | ", a merged cell once. Text boxes follow the paragraph that
anchors them. Tracked deletions are left out, insertions kept. Headers, footers, footnotes and
comments are not read. Before any XML is parsed, the zip is checked: a zip bomb, a file that is
not a zip (an encrypted DOCX is an OLE file) and a zip that is not a Word file are refused.
"""

from __future__ import annotations

import io
import zipfile

import docx
from lxml import etree

from rag.loaders.document import Document, Unreadable

_MB = 1024 * 1024
_MAX_TOTAL_BYTES = 100 * _MB
_MAX_RATIO = 100
_RATIO_CHECKED_FROM_BYTES = 10 * _MB  # small entries (styles, a page of XML) compress well and are harmless
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # what Word writes for an encrypted .docx, and a .doc is

_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_W = "{%s}" % _NS["w"]
# Runs of paragraph $p itself (not of a text box inside it); mc:Fallback repeats mc:Choice for old readers.
_OWN_RUNS = etree.XPath(
    ".//w:r[count(ancestor::w:p[1] | $p) = 1][not(ancestor::w:del or ancestor::w:moveFrom or ancestor::mc:Fallback)]",
    namespaces=_NS,
)
_TEXT_BOXES = etree.XPath(".//w:txbxContent[count(ancestor::w:p[1] | $p) = 1][not(ancestor::mc:Fallback)]",
                          namespaces=_NS)
_RUN_TEXT = etree.XPath("w:t | w:tab | w:ptab | w:br | w:cr | w:noBreakHyphen", namespaces=_NS)
_ROWS = etree.XPath("w:tr | w:sdt/w:sdtContent/w:tr", namespaces=_NS)
_CELLS = etree.XPath("w:tc | w:sdt/w:sdtContent/w:tc", namespaces=_NS)
_VMERGE = etree.XPath("string(w:tcPr/w:vMerge/@w:val)", namespaces=_NS)
_HAS_VMERGE = etree.XPath("boolean(w:tcPr/w:vMerge)", namespaces=_NS)
_CELL_PARAGRAPHS = etree.XPath(".//w:p[not(ancestor::mc:Fallback)]", namespaces=_NS)


def _check_archive(data: bytes) -> None:
    """Refuse what must not be parsed. zipfile never inflates an entry past the size the archive
    declares for it (and then fails its CRC), so checking the declared sizes is enough."""
    if data.startswith(_OLE_MAGIC):
        raise Unreadable("encrypted or not a DOCX file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise Unreadable("not a DOCX file: not a zip archive (corrupt or truncated?)") from None
    with archive:
        entries = archive.infolist()
    total = sum(entry.file_size for entry in entries)
    if total > _MAX_TOTAL_BYTES:
        raise Unreadable(f"its zip entries expand to {total // _MB} MB, over the {_MAX_TOTAL_BYTES // _MB} MB limit "
                         "(a zip bomb?)")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > _RATIO_CHECKED_FROM_BYTES and ratio > _MAX_RATIO:
            raise Unreadable(f"zip entry {entry.filename} expands {ratio:.0f} times to {entry.file_size // _MB} MB, "
                             f"over the {_MAX_RATIO}:1 limit (a zip bomb?)")
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise Unreadable("not a Word document (no word/document.xml in the zip)")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _run_text(run: etree._Element) -> str:
    pieces = []
    for element in _RUN_TEXT(run):
        if element.tag == f"{_W}t":
            pieces.append(element.text or "")
        elif element.tag == f"{_W}noBreakHyphen":
            pieces.append("-")
        else:  # tabs and line breaks separate words within the paragraph's one line
            pieces.append(" ")
    return "".join(pieces)


def _paragraph_text(paragraph: etree._Element) -> str:
    return _collapse("".join(_run_text(run) for run in _OWN_RUNS(paragraph, p=paragraph)))


def _cell_text(cell: etree._Element) -> str:
    return _collapse(" ".join(_paragraph_text(paragraph) for paragraph in _CELL_PARAGRAPHS(cell)))


def _row_line(row: etree._Element) -> str:
    cells = []
    for cell in _CELLS(row):
        # A vertically merged cell holds its text in the first row it spans; the rows below are
        # continuations. A horizontally merged cell is a single w:tc already.
        continued = _HAS_VMERGE(cell) and _VMERGE(cell) != "restart"
        cells.append("" if continued else _cell_text(cell))
    return _collapse(" | ".join(cells)) if any(cells) else ""


def _block_lines(container: etree._Element, lines: list[str]) -> None:
    """Lines of a body, a text box or a content control, walked in document order."""
    for child in container:
        if child.tag == f"{_W}p":
            lines.append(_paragraph_text(child))
            for box in _TEXT_BOXES(child, p=child):
                _block_lines(box, lines)
        elif child.tag == f"{_W}tbl":
            lines.extend(_row_line(row) for row in _ROWS(child))
        elif child.tag == f"{_W}sdt":  # a content control (a table of contents, a form field)
            for content in child.iterchildren(f"{_W}sdtContent"):
                _block_lines(content, lines)
        elif child.tag == f"{_W}customXml":
            _block_lines(child, lines)


def read_docx(data: bytes, source: str) -> Document:
    _check_archive(data)
    try:
        body = docx.Document(io.BytesIO(data)).element.body
    except (RecursionError, MemoryError):
        raise  # the bounded child reports these with the limit that was hit
    except Exception as exc:  # python-docx, zipfile and lxml raise many kinds on a broken file
        raise Unreadable(f"malformed DOCX ({type(exc).__name__}: {str(exc)[:160]})") from None
    lines: list[str] = []
    _block_lines(body, lines)
    return Document(source=source, lines=[line for line in lines if line])
