"""Splitting documents into chunks that know exactly which lines they hold.

Whole lines are packed into chunks up to a word-piece budget. A line longer
than the budget (the seed articles put a paragraph on one line) becomes
several chunks cut at sentence boundaries, each the exact substring
line[start_char:end_char]. Lines repeated three or more times in a file
(adverts, navigation) become chunks of their own flagged as boilerplate, so
retrieval can leave them out without losing any line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.loaders import Document
from rag.text import join_wrapped, split_sentences
from rag.types import Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")
_BOILERPLATE_MIN_REPEATS = 3
_BOILERPLATE_MAX_WORDS = 40
_PARAGRAPH_ENDS = frozenset(".!?:;\"”’)]")


@dataclass(slots=True)
class _Unit:
    """Lines kept together in one chunk: one line, or a paragraph a layout wrapped over several."""

    line: int  # 1-based
    tokens: int
    boilerplate: bool
    last: int = 0  # the unit's last line (its first when 0)

    @property
    def end(self) -> int:
        return self.last or self.line


class Chunker:
    def __init__(self, count_tokens: TokenCounter, max_tokens: int = 200, overlap_tokens: int = 0):
        if max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be at least 0 and smaller than max_tokens")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def __call__(self, doc: Document) -> list[Chunk]:
        line_tokens = self.count_tokens(doc.lines)
        repeated = _repeated_lines(doc.lines)
        # A chunk never spans two pages: its citation names one page.
        page_starts = {page.first_line for page in doc.pages or ()}
        carried_over = {n for n in page_starts if n > 1 and doc.lines[n - 2].strip()[-1:] not in _PARAGRAPH_ENDS}
        chunks: list[Chunk] = []
        pending: list[_Unit] = []

        def flush() -> None:
            if pending:
                start, end = pending[0].line, pending[-1].end
                text = "\n".join(doc.lines[start - 1 : end])
                chunks.append(Chunk(doc.source, start, end, text, boilerplate=pending[0].boilerplate))

        for unit in self._units(doc, line_tokens, repeated):
            line = doc.lines[unit.line - 1]
            if unit.tokens > self.max_tokens:  # one line (a paragraph over budget was cut into its lines)
                flush()
                pending = []
                chunks.extend(self._split_long_line(doc.source, unit.line, line, unit.boilerplate))
                continue
            starts_section = line.lstrip().startswith("#") or unit.line in page_starts
            fits = sum(u.tokens for u in pending) + unit.tokens <= self.max_tokens
            if pending and (not fits or starts_section or pending[0].boilerplate != unit.boilerplate):
                flush()
                continues_text = not starts_section and pending[0].boilerplate == unit.boilerplate
                pending = self._overlap(pending, unit.tokens) if continues_text else []
            pending.append(unit)
            if unit.line in carried_over:  # the end of a paragraph the page break cut: a chunk of its own
                flush()
                pending = []
        flush()
        return chunks

    def _units(self, doc: Document, line_tokens: list[int], repeated: set[str]) -> list[_Unit]:
        """The document's text lines as units: a wrapped paragraph (a PDF's) is one unit while it fits
        the budget, so chunks start and end where paragraphs do, as they do for one-line paragraphs."""
        units: list[_Unit] = []
        run: list[int] = []

        def close() -> None:
            tokens = sum(line_tokens[n - 1] for n in run)
            if len(run) > 1 and tokens <= self.max_tokens:
                units.append(_Unit(run[0], tokens, _normalise(doc.lines[run[0] - 1]) in repeated, run[-1]))
            else:
                units.extend(_Unit(n, line_tokens[n - 1], _normalise(doc.lines[n - 1]) in repeated) for n in run)
            run.clear()

        for number, line in enumerate(doc.lines, start=1):
            if not line.strip():
                continue
            if run and not (doc.wrapped and doc.wrapped[number - 1] and run[-1] == number - 1):
                close()
            run.append(number)
        if run:
            close()
        return units

    def _overlap(self, previous: list[_Unit], incoming_tokens: int) -> list[_Unit]:
        """Trailing units of the previous chunk repeated at the start of the next."""
        if not self.overlap_tokens:
            return []
        carried: list[_Unit] = []
        total = 0
        for unit in reversed(previous[1:]):  # never the whole previous chunk
            if total + unit.tokens > self.overlap_tokens:
                break
            carried.insert(0, unit)
            total += unit.tokens
        return carried if total + incoming_tokens <= self.max_tokens else []

    def _split_long_line(self, source: str, number: int, line: str, boilerplate: bool) -> list[Chunk]:
        spans = _sentence_spans(line)
        counts = self.count_tokens([line[s:e] for s, e in spans])
        pieces = self._pack(spans, counts, lambda start, end: self._split_by_words(line, start, end))
        return [Chunk(source, number, number, line[s:e], s, e, boilerplate) for s, e in pieces]

    def _split_by_words(self, line: str, start: int, end: int) -> list[tuple[int, int]]:
        words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(line[start:end])]
        counts = self.count_tokens([line[s:e] for s, e in words])
        # A "word" longer than the window (a hash, base64): one character is at most
        # one word piece, so slices of max_tokens characters always fit.
        step = self.max_tokens
        return self._pack(words, counts, lambda ws, we: [(s, min(s + step, we)) for s in range(ws, we, step)])

    def _pack(
        self, spans: list[tuple[int, int]], counts: list[int], split_oversized: Callable[[int, int], list[tuple[int, int]]]
    ) -> list[tuple[int, int]]:
        """Join consecutive spans into pieces within the budget; a span over it is split further."""
        pieces: list[tuple[int, int]] = []
        current: tuple[int, int] | None = None
        current_tokens = 0
        for (start, end), tokens in zip(spans, counts):
            if tokens > self.max_tokens:
                if current:
                    pieces.append(current)
                    current, current_tokens = None, 0
                pieces.extend(split_oversized(start, end))
            elif current and current_tokens + tokens <= self.max_tokens:
                current = (current[0], end)
                current_tokens += tokens
            else:
                if current:
                    pieces.append(current)
                current, current_tokens = (start, end), tokens
        if current:
            pieces.append(current)
        return pieces


def _sentence_spans(line: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in a line, without surrounding whitespace."""
    return [(sentence.start, sentence.end) for sentence in split_sentences(line)]


def _normalise(line: str) -> str:
    return " ".join(line.lower().split())


def _repeated_lines(lines: list[str]) -> set[str]:
    counts = Counter(_normalise(line) for line in lines if line.strip())
    return {
        text
        for text, count in counts.items()
        if count >= _BOILERPLATE_MIN_REPEATS and len(text.split()) <= _BOILERPLATE_MAX_WORDS
    }


_TITLE_MAX_WORDS = 16


def document_title(lines: list[str], wrapped: list[bool] | None = None) -> str | None:
    """A short first paragraph (a line, or the lines a layout wrapped it over) reads as the document's
    title and gives every chunk context."""
    for start, line in enumerate(lines):
        if line.strip():
            end = start + 1
            while wrapped and end < len(lines) and wrapped[end]:
                end += 1
            words = join_wrapped(lines[start:end])[0].split()
            return " ".join(words) if len(words) <= _TITLE_MAX_WORDS else None
    return None


def embedding_text(chunk: Chunk, title: str | None, wrapped: list[bool] | None = None) -> str:
    """What is embedded and BM25-indexed for a chunk: its text, led by the title when it lacks it.
    Lines a layout wrapped (`wrapped`, a PDF's) are joined back into their paragraphs, so a word
    broken across lines ("compa-" "ny") is one word to both searches."""
    text = chunk.text
    if wrapped and chunk.start_char is None:
        paragraphs: list[list[str]] = []
        for line, continues in zip(text.split("\n"), wrapped[chunk.start_line - 1 : chunk.end_line]):
            if continues and paragraphs:
                paragraphs[-1].append(line)
            else:
                paragraphs.append([line])
        text = "\n".join(join_wrapped(parts)[0] for parts in paragraphs)
    if title and chunk.start_line > 1:
        return f"{title}\n{text}"
    return text
