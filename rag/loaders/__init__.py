"""Reading documents into lines with exact provenance: text files in process, other formats in a
child process bounded in time and memory (a hostile PDF or DOCX must never stop or sink a build).

Each format module turns the file's bytes into a Document, or raises Unreadable with the reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from rag.loaders.document import Document, NoTextLayer, Page, Unreadable
from rag.loaders.text import check_corpus, decode, iter_corpus_files, read_text, split_lines

log = logging.getLogger("rag.loaders")

TEXT_EXTENSIONS = (".txt", ".md", ".rst")
PAGED_EXTENSIONS = (".pdf",)
FORMAT_EXTENSIONS = (".pdf", ".html", ".htm", ".docx")
READABLE_EXTENSIONS = TEXT_EXTENSIONS + FORMAT_EXTENSIONS

__all__ = [
    "Document", "NoTextLayer", "Page", "Unreadable", "READABLE_EXTENSIONS", "ReadLimits", "check_corpus", "decode",
    "iter_corpus_files", "read_document", "reader_for", "split_lines",
]


class ReadLimits:
    """What one file may cost: its size on disk, and for formats read in a child process, time and memory."""

    def __init__(self, max_bytes: int = 20_000_000, timeout_s: float = 60.0, memory_mb: int = 1024):
        if max_bytes < 1 or timeout_s <= 0 or memory_mb < 64:
            raise ValueError("max_bytes must be positive, timeout_s positive and memory_mb at least 64")
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb


def reader_for(suffix: str) -> Callable[[bytes, str], Document]:
    """The function that reads files of this type (imported only when needed)."""
    suffix = suffix.lower()
    if suffix == ".pdf":
        from rag.loaders.pdf import read_pdf

        return read_pdf
    if suffix in (".html", ".htm"):
        from rag.loaders.html import read_html

        return read_html
    if suffix == ".docx":
        from rag.loaders.docx import read_docx

        return read_docx
    return read_text


def read_document(path: Path, source: str, limits: ReadLimits | int,
                  known: Callable[[str], Document | None] | None = None) -> Document | None:
    """Read one file, or warn (one line naming the file and the reason) and return None when it
    cannot or should not be indexed. A file with no text layer raises NoTextLayer after its warning,
    so the caller can count it apart. `known(sha256)` may return the document as read before from the
    same bytes, so an unchanged PDF is not parsed again."""
    limits = limits if isinstance(limits, ReadLimits) else ReadLimits(max_bytes=limits)
    try:
        size = path.stat().st_size
        if size == 0:
            raise Unreadable("empty file")
        if size > limits.max_bytes:
            raise Unreadable(f"{size} bytes is over the {limits.max_bytes} byte limit")
        data = path.read_bytes()
    except OSError as exc:
        log.warning("skipped %s: cannot read it (%s)", source, exc.strerror or exc)
        return None
    except Unreadable as exc:
        log.warning("skipped %s: %s", source, exc)
        return None
    suffix = path.suffix.lower()
    sha256 = hashlib.sha256(data).hexdigest()
    if known is not None and suffix in FORMAT_EXTENSIONS:
        previous = known(sha256)
        if previous is not None:
            return previous
    try:
        if suffix in FORMAT_EXTENSIONS:
            from rag.loaders.bounded import read_bounded

            doc = read_bounded(reader_for(suffix), data, source, limits.timeout_s, limits.memory_mb)
        else:
            doc = read_text(data, source)
    except NoTextLayer as exc:
        log.warning("skipped %s: %s", source, exc)
        raise
    except Unreadable as exc:
        log.warning("skipped %s: %s", source, exc)
        return None
    for note in doc.notes:
        log.warning("%s: %s", source, note)
    doc.notes = []
    if not any(line.strip() for line in doc.lines):
        log.warning("skipped %s: no text", source)
        return None
    doc.source = source
    doc.path = str(path.resolve())
    doc.sha256 = sha256
    return doc
