"""Reading files: exact line numbers, encodings, files to skip, and the corpus walk."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from rag.errors import CorpusError
from rag.loaders import Document, check_corpus, iter_corpus_files, read_document, split_lines

EXTS = [".txt", ".md", ".rst"]
MAX = 20_000_000


def _read(path: Path, source: str | None = None) -> Document | None:
    return read_document(path, source or path.name, MAX)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"one\ntwo\nthree\n", ["one", "two", "three"]),
        (b"one\r\ntwo\r\nthree\r\n", ["one", "two", "three"]),
        (b"one\ntwo\nthree", ["one", "two", "three"]),  # no final newline
        (b"one\r\ntwo\r\nthree", ["one", "two", "three"]),
        (b"one\n\n\nfour\n", ["one", "", "", "four"]),
        (b"one\r\n\r\nthree\r\n\r\n", ["one", "", "three", ""]),
        (b"mixed\r\nendings\nhere\r\n", ["mixed", "endings", "here"]),
    ],
)
def test_line_numbers_exact(tmp_path, data, expected):
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    doc = _read(path)
    assert doc is not None
    assert doc.lines == expected
    # Line N is what an editor shows as line N.
    editor_lines = data.decode().splitlines()
    assert doc.lines == editor_lines


def test_sha256_is_of_the_bytes(tmp_path):
    import hashlib

    data = b"alpha\r\nbeta\r\n"
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    assert _read(path).sha256 == hashlib.sha256(data).hexdigest()


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffFirst line é\nsecond\n".encode("utf-8"))
    doc = _read(path)
    assert doc.lines == ["First line é", "second"]


def test_latin1_fallback_warns_and_decodes(tmp_path, caplog):
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème\nnaïve façade\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        doc = _read(path)
    assert doc is not None
    assert doc.lines == ["Café crème", "naïve façade"]
    assert any("latin.txt" in r.getMessage() and "UTF-8" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "name, data",
    [
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        ("empty.txt", b""),
        ("blank.txt", b"   \n\t\n\r\n  "),
        ("nul.txt", b"text with a\x00nul byte\n"),
    ],
)
def test_files_to_skip_warn_and_return_none(tmp_path, caplog, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert _read(path) is None
    assert any(name in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_over_size_limit_skipped(tmp_path, caplog):
    path = tmp_path / "big.txt"
    path.write_text("word " * 100)
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert read_document(path, "big.txt", 50) is None
    assert any("big.txt" in r.getMessage() for r in caplog.records)


def test_missing_file_is_skipped_not_raised(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        assert _read(tmp_path / "gone.txt") is None
    assert any("gone.txt" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_skipped(tmp_path, caplog):
    path = tmp_path / "secret.txt"
    path.write_text("hidden\n")
    path.chmod(0)
    try:
        with caplog.at_level(logging.WARNING, logger="rag.loaders"):
            assert _read(path) is None
        assert any("secret.txt" in r.getMessage() for r in caplog.records)
    finally:
        path.chmod(0o644)


def _walk(root: Path, exts=EXTS) -> list[str]:
    return [source for _, source in iter_corpus_files(root, exts)]


def test_recursive_walk_relative_posix_sources_sorted(corpus_factory):
    root = corpus_factory(
        {
            "b.txt": "b\n",
            "a.md": "a\n",
            "sub/c.txt": "c\n",
            "sub/deeper/d.rst": "d\n",
            "sub/skip.pdf": "x\n",
            "UPPER.TXT": "upper\n",
        }
    )
    sources = _walk(root)
    assert sorted(sources) == sorted(["a.md", "b.txt", "sub/c.txt", "sub/deeper/d.rst", "UPPER.TXT"])
    assert all("\\" not in s and not s.startswith("/") for s in sources)
    assert sources == _walk(root)  # stable order
    for path, source in iter_corpus_files(root, EXTS):
        assert path == root.resolve() / source


def test_extension_filter(corpus_factory):
    root = corpus_factory({"a.txt": "a\n", "b.md": "b\n", "c.py": "c\n"})
    assert _walk(root, [".md"]) == ["b.md"]
    assert _walk(root, [".py", ".txt"]) == ["a.txt", "c.py"]


def test_hidden_files_and_dirs_skipped(corpus_factory):
    root = corpus_factory({".git/notes.txt": "x\n", ".hidden.txt": "x\n", "sub/.cache/y.txt": "y\n", "ok.txt": "ok\n"})
    assert _walk(root) == ["ok.txt"]


def test_single_file_root(corpus_factory):
    root = corpus_factory({"one.txt": "one\n"})
    assert _walk(root / "one.txt") == ["one.txt"]


def test_symlinked_file_outside_corpus_not_followed(tmp_path, corpus_factory, caplog):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside\n")
    root = corpus_factory({"inside.txt": "inside\n"})
    (root / "escape.txt").symlink_to(outside)
    (root / "alias.txt").symlink_to(root / "inside.txt")
    with caplog.at_level(logging.WARNING, logger="rag.loaders"):
        sources = _walk(root)
    assert "escape.txt" not in sources
    assert "alias.txt" in sources  # a link that stays inside is fine
    assert any("escape.txt" in r.getMessage() for r in caplog.records)


def test_symlinked_directory_loop_does_not_hang(corpus_factory):
    root = corpus_factory({"sub/a.txt": "a\n"})
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "sub", target_is_directory=True)
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.extend(_walk(root)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "walking a symlink loop hung"
    assert result == ["sub/a.txt"]


def test_check_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        check_corpus(tmp_path / "nope")
    assert check_corpus(tmp_path) == tmp_path.resolve()


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(lambda t: t.encode("utf-8"))))
def test_random_bytes_never_crash(tmp_path, data):
    path = tmp_path / "random.txt"
    path.write_bytes(data)
    doc = read_document(path, "random.txt", MAX)
    assert doc is None or isinstance(doc, Document)
    if doc is None:
        return
    assert doc.lines, "a document has at least one line"
    assert any(line.strip() for line in doc.lines)
    # Decode as the loader does and compare modulo \r at line ends.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    expected = text[:-1] if text.endswith("\n") else text
    assert doc.text == "\n".join(line[:-1] if line.endswith("\r") else line for line in expected.split("\n"))
    assert "\n".join(doc.lines).replace("\r", "") == expected.replace("\r", "")
    assert doc.lines == split_lines(text)
