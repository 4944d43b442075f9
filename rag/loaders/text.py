"""Plain text files (.txt, .md, .rst), and walking the corpus.

A document's lines are its text split on "\\n" with one trailing "\\r"
removed per line, so line N here is line N in any editor, for `\\r\\n` files too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from rag.errors import CorpusError
from rag.loaders.document import Document, Unreadable

log = logging.getLogger("rag.loaders")

_BINARY_SNIFF_BYTES = 8192
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def decode(data: bytes, source: str) -> str | None:
    """UTF-8 (BOM tolerated), else a single-byte fallback with a warning; None for binary data."""
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in _FALLBACK_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        control = sum(1 for ch in text[:_BINARY_SNIFF_BYTES] if ord(ch) < 32 and ch not in "\t\n\r\f")
        if control > len(text[:_BINARY_SNIFF_BYTES]) * 0.05:
            return None
        log.warning("%s is not valid UTF-8; read it as %s", source, encoding)
        return text
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def iter_corpus_files(root: Path, extensions: list[str]) -> Iterator[tuple[Path, str]]:
    """Yield (path, source) for indexable files under root, in a stable order.

    Symlinked folders are not descended into (no loops, no escapes) and
    symlinked files are followed only when they resolve inside the corpus.
    """
    root = root.resolve()
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=_warn_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in extensions:
                continue
            path = Path(dirpath) / name
            source = path.relative_to(root).as_posix()
            if path.is_symlink() and not _inside(path, root):
                log.warning("skipped %s: symlink that leads outside the corpus", source)
                continue
            if not path.is_file():
                continue
            yield path, source


def _warn_walk_error(exc: OSError) -> None:
    log.warning("skipped %s: %s", exc.filename, exc.strerror or exc)


def check_corpus(root: Path) -> Path:
    if not root.exists():
        raise CorpusError(f"{root} does not exist")
    if not (root.is_dir() or root.is_file()):
        raise CorpusError(f"{root} is not a folder or file")
    return root.resolve()


def read_text(data: bytes, source: str) -> Document:
    text = decode(data, source)
    if text is None:
        raise Unreadable("looks like a binary file")
    return Document(source=source, lines=split_lines(text))
