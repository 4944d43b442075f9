"""Chunking: every chunk is exactly its lines, covers everything, and fits the model window.

Token counts are the real MiniLM word-piece counts (only the fast tokenizer loads).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from rag.chunker import Chunker
from rag.loaders import Document
from rag.settings import PROJECT_ROOT
from rag.types import Chunk

SEED_003 = PROJECT_ROOT / "seeds" / "003_02a43008e7f09149.txt"

WORDS = (
    "alibaba revenue rose net income billion quarter cloud investment the a of and to in market "
    "growth AI model data 48.9 8% $6.45 ¥280.2 co-founder e-commerce naïve café Zürich 東京 "
    "déjà-vu (note) [ref] \"quoted\" it's well-known U.S. Dr. vs."
).split()


def _normalise(line: str) -> str:
    return " ".join(line.lower().split())


def _repeated(lines: list[str]) -> set[str]:
    counts: dict[str, int] = {}
    for line in lines:
        if line.strip():
            counts[_normalise(line)] = counts.get(_normalise(line), 0) + 1
    return {t for t, c in counts.items() if c >= 3 and len(t.split()) <= 40}


# Strategies ----------------------------------------------------------------------------
word = st.sampled_from(WORDS)
short_line = st.lists(word, min_size=1, max_size=15).map(" ".join)
blank_line = st.sampled_from(["", " ", "   ", "\t", " \t "])
heading = short_line.map(lambda s: "# " + s)
sentence = st.tuples(st.lists(word, min_size=3, max_size=40).map(" ".join), st.sampled_from([".", "!", "?", ".\"", ".)"])).map(
    lambda t: t[0][0].upper() + t[0][1:] + t[1]
)
long_line = st.tuples(st.lists(sentence, min_size=2, max_size=25), st.sampled_from([" ", "  ", " \t"])).map(
    lambda t: t[1].join(t[0])
)
run_on_line = st.lists(word, min_size=60, max_size=400).map(" ".join)  # no sentence ends at all
giant_word = st.sampled_from(["x" * 300, "a.b" * 150, "0123456789" * 40, "-" * 500])
odd_line = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80)


@st.composite
def documents(draw) -> Document:
    pool = draw(st.lists(short_line, min_size=1, max_size=3))  # lines that may repeat (adverts)
    element = st.one_of(
        short_line, short_line, blank_line, heading, long_line, run_on_line, giant_word, odd_line, st.sampled_from(pool)
    )
    lines = draw(st.lists(element, min_size=1, max_size=40))
    if draw(st.booleans()):  # make sure some line is repeated 3+ times
        advert = pool[0]
        for _ in range(3):
            lines.insert(draw(st.integers(0, len(lines))), advert)
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    if not any(line.strip() for line in lines):
        lines.append("fallback line")
    return Document(source="dir/doc.txt", lines=lines, sha256="0" * 64)


# Invariants ------------------------------------------------------------------------------
def check_chunks(doc: Document, chunks: list[Chunk], max_tokens: int, count_tokens) -> None:
    lines = doc.lines
    assert chunks, "a document with text yields chunks"
    repeated = _repeated(lines)
    for chunk in chunks:
        assert chunk.source == doc.source
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        assert chunk.text.strip(), f"empty chunk {chunk}"
        if chunk.start_char is None:
            assert chunk.end_char is None
            assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
            assert lines[chunk.start_line - 1].strip() and lines[chunk.end_line - 1].strip()
        else:
            assert chunk.start_line == chunk.end_line
            assert 0 <= chunk.start_char < chunk.end_char <= len(lines[chunk.start_line - 1])
            assert chunk.text == lines[chunk.start_line - 1][chunk.start_char : chunk.end_char]
        # Boilerplate is flagged and never mixed with other lines.
        for n in range(chunk.start_line, chunk.end_line + 1):
            if lines[n - 1].strip():
                assert (_normalise(lines[n - 1]) in repeated) == chunk.boilerplate, (n, chunk)
    counts = count_tokens([c.text for c in chunks])
    for chunk, tokens in zip(chunks, counts):
        assert tokens <= max_tokens, f"{tokens} word pieces > {max_tokens}: {chunk}"
    # Every non-blank line is covered; a line cut into pieces has every non-space character covered.
    whole = set()
    partial: dict[int, list[tuple[int, int]]] = {}
    for chunk in chunks:
        if chunk.start_char is None:
            whole.update(range(chunk.start_line, chunk.end_line + 1))
        else:
            partial.setdefault(chunk.start_line, []).append((chunk.start_char, chunk.end_char))
    for n, line in enumerate(lines, start=1):
        if not line.strip() or n in whole:
            continue
        assert n in partial, f"line {n} not covered: {line!r}"
        covered = set()
        for s, e in partial[n]:
            covered.update(range(s, e))
        missing = [i for i, ch in enumerate(line) if not ch.isspace() and i not in covered]
        assert not missing, f"line {n}: characters {missing[:10]} not covered"
    starts = [(c.start_line, c.start_char or 0) for c in chunks]
    assert starts == sorted(starts), "chunks come in document order"


@pytest.fixture(scope="module")
def count_tokens(real_embedder):
    return real_embedder.count_tokens


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=documents(), max_tokens=st.sampled_from([16, 24, 64, 200, 254]), overlap=st.sampled_from([0, 0, 8]))
def test_chunk_invariants(count_tokens, doc, max_tokens, overlap):
    if overlap >= max_tokens:
        overlap = 0
    chunks = Chunker(count_tokens, max_tokens=max_tokens, overlap_tokens=overlap)(doc)
    check_chunks(doc, chunks, max_tokens, count_tokens)


def test_chunker_is_deterministic(count_tokens):
    doc = Document("a.txt", SEED_003.read_text(encoding="utf-8").splitlines(), "x")
    chunker = Chunker(count_tokens, max_tokens=200)
    assert [c.to_dict() for c in chunker(doc)] == [c.to_dict() for c in chunker(doc)]


def test_blank_only_document_has_no_chunks(count_tokens):
    assert Chunker(count_tokens)(Document("a.txt", ["", "  ", "\t"], "x")) == []


def test_invalid_parameters(count_tokens):
    with pytest.raises(ValueError):
        Chunker(count_tokens, max_tokens=0)
    with pytest.raises(ValueError):
        Chunker(count_tokens, max_tokens=10, overlap_tokens=10)


# Examples on the seed article with adverts -----------------------------------------------------
def _seed_doc() -> Document:
    return Document("003_02a43008e7f09149.txt", SEED_003.read_text(encoding="utf-8").splitlines(), "x")


def test_seed_adverts_flagged_boilerplate(count_tokens):
    doc = _seed_doc()
    advert_lines = [n for n, line in enumerate(doc.lines, start=1) if line.startswith(("Learn to use AI like a Pro", "Get the latest AI workflows"))]
    assert advert_lines[:4] == [13, 14, 34, 35]
    chunks = Chunker(count_tokens, max_tokens=200)(doc)
    check_chunks(doc, chunks, 200, count_tokens)
    for n in advert_lines:
        covering = [c for c in chunks if c.start_line <= n <= c.end_line]
        assert covering, f"advert line {n} is not kept"
        assert all(c.boilerplate for c in covering), f"advert line {n} not flagged"
    for chunk in chunks:
        if chunk.boilerplate:
            assert all(
                not doc.lines[n - 1].strip() or n in advert_lines for n in range(chunk.start_line, chunk.end_line + 1)
            ), f"boilerplate chunk holds article text: {chunk}"
    # The article text around the adverts is in unflagged chunks.
    for n in (12, 15):
        if doc.lines[n - 1].strip():
            assert any(not c.boilerplate and c.start_line <= n <= c.end_line for c in chunks)


def test_long_paragraph_split_at_sentence_boundaries(count_tokens):
    sentences = [
        f"Sentence number {i} says that the quarterly revenue of company {i} grew by {i} percent over the year."
        for i in range(1, 31)
    ]
    paragraph = " ".join(sentences)
    doc = Document("p.txt", ["A title", "", paragraph, "Closing line."], "x")
    chunks = Chunker(count_tokens, max_tokens=64)(doc)
    check_chunks(doc, chunks, 64, count_tokens)
    pieces = [c for c in chunks if c.start_line == 3]
    assert len(pieces) > 1
    previous_end = 0
    for chunk in pieces:
        assert chunk.start_line == chunk.end_line == 3
        assert chunk.text == paragraph[chunk.start_char : chunk.end_char]
        assert chunk.start_char >= previous_end
        previous_end = chunk.end_char
        # Cut at sentence boundaries: each piece is whole sentences.
        assert chunk.text.startswith("Sentence number ")
        assert chunk.text.endswith("year.")
        assert chunk.start_char == 0 or paragraph[chunk.start_char - 1] == " "
    assert " ".join(c.text for c in pieces) == paragraph
    # The title and the closing line are whole-line chunks with their own line numbers.
    assert any(c.start_line == 1 and c.text == "A title" for c in chunks)
    assert any(c.start_line == 4 and c.end_line == 4 and c.start_char is None for c in chunks)


def test_sentence_longer_than_window_split_by_words(count_tokens):
    line = " ".join(f"word{i}" for i in range(300))  # one sentence, no full stop
    doc = Document("w.txt", [line], "x")
    chunks = Chunker(count_tokens, max_tokens=32)(doc)
    check_chunks(doc, chunks, 32, count_tokens)
    assert len(chunks) > 1
    assert all(re.fullmatch(r"word\d+( word\d+)*", c.text) for c in chunks)


def test_headings_start_a_new_chunk(count_tokens):
    doc = Document("h.md", ["# One", "text one", "# Two", "text two"], "x")
    chunks = Chunker(count_tokens, max_tokens=200)(doc)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 2), (3, 4)]


def test_overlap_repeats_trailing_lines(count_tokens):
    lines = [f"line {i} has a few words in it" for i in range(1, 21)]
    doc = Document("o.txt", lines, "x")
    per_line = count_tokens(lines[:1])[0]
    chunks = Chunker(count_tokens, max_tokens=per_line * 5, overlap_tokens=per_line * 2)(doc)
    check_chunks(doc, chunks, per_line * 5, count_tokens)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start_line <= a.end_line, "consecutive chunks overlap"
        assert b.start_line > a.start_line, "overlap never repeats a whole chunk"
