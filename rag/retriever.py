"""Finding passages: dense and BM25 search (in whichever store holds the index) fused with reciprocal rank fusion.

Hits from the same file that overlap or touch are merged into one passage, and
chunks with the same text (an advert repeated across files) appear once, so
the top k are k different places.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rag.embedder import Embedder
from rag.errors import ConfigError, InputError
from rag.settings import Settings
from rag.stores import IndexView
from rag.text import DocumentFrequencies
from rag.types import Chunk, Passage

Mode = Literal["hybrid", "dense", "bm25"]


class Reranker(Protocol):
    def rerank(self, query: str, passages: list[Passage]) -> list[Passage]: ...


def load_reranker(spec: str | None) -> Reranker | None:
    """`package.module:factory` returning an object with rerank(); None when not configured."""
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "Reranker")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"reranker {spec!r} cannot be loaded: {exc}") from None
    return factory()


@dataclass(slots=True)
class _Hit:
    chunk_id: int
    score: float  # fused
    dense: float  # cosine similarity to the query


@dataclass(slots=True, eq=False)  # groups are told apart by identity, never by value
class _Group:
    """Hits merged into one passage: its span in one file and its best scores."""

    source: str
    start: int
    end: int
    start_char: int | None  # character offsets only while the group is one line whose chunks all have them
    end_char: int | None
    score: float
    dense: float
    # Text lines (not blank) before `start` and up to `end`: two groups have no text between
    # them exactly when these ranges overlap or touch.
    text_before: int
    text_through: int

    def absorb(self, other: _Group) -> bool:
        """Take `other` in; True when that widened the span."""
        before = (self.start, self.end, self.start_char, self.end_char)
        start, end = min(self.start, other.start), max(self.end, other.end)
        if start == end and self.start_char is not None and other.start_char is not None:
            self.start_char, self.end_char = min(self.start_char, other.start_char), max(self.end_char, other.end_char)
        else:
            self.start_char = self.end_char = None
        self.start, self.end = start, end
        self.score = max(self.score, other.score)
        self.dense = max(self.dense, other.dense)  # nan (BM25 only) throughout or nowhere
        self.text_before = min(self.text_before, other.text_before)
        self.text_through = max(self.text_through, other.text_through)
        return (self.start, self.end, self.start_char, self.end_char) != before


class _LineSums:
    """Running totals over one file's lines, so that asking about any range of lines costs O(1)."""

    def __init__(self, lines: Sequence[str]):
        self._text = [0, *itertools.accumulate(1 if line.strip() else 0 for line in lines)]
        self._chars = [0, *itertools.accumulate(len(line) + 1 for line in lines)]

    def text_lines(self, start: int, end: int) -> int:
        """Lines start..end (1-based, inclusive) that hold more than white space."""
        return self._text[end] - self._text[start - 1]

    def chars(self, start: int, end: int) -> int:
        """Characters of lines start..end joined by newlines, plus one."""
        return self._chars[end] - self._chars[start - 1]


class Retriever:
    def __init__(self, snapshot: IndexView, embedder: Embedder, settings: Settings, reranker: Reranker | None = None):
        snapshot.check_model(embedder.name)
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker
        self._sums: dict[str, _LineSums] = {}

    @property
    def document_frequencies(self) -> DocumentFrequencies:
        return self.snapshot.document_frequencies

    def warm_up(self) -> None:
        self.snapshot.warm_up()

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        query = query.strip()
        if not query:
            raise InputError("the question is empty")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise InputError("k must be between 1 and 100")
        candidates = max(self.settings.candidate_k, k * 4)
        query_vector = self.embedder.encode_query(query) if mode != "bm25" else None
        dense_hits = self.snapshot.dense_search(query_vector, candidates) if mode != "bm25" else []
        bm25_hits = self.snapshot.bm25_search(query, candidates) if mode != "dense" else []
        groups = self._merge(*self._fuse(dense_hits, bm25_hits, query_vector))
        if self.reranker is None:
            return [self._passage(group) for group in groups[:k]]
        return self.reranker.rerank(query, [self._passage(group) for group in groups])[:k]

    def _fuse(
        self, dense_hits: list[tuple[int, float]], bm25_hits: list[tuple[int, float]], query_vector: np.ndarray | None
    ) -> tuple[list[_Hit], dict[int, Chunk]]:
        """Combine both rankings into one, with the chunks it ranks.

        "weighted" (default): dense_weight * cosine + bm25_weight * BM25 / best BM25 score,
        over the union of both candidate lists. "rrf": reciprocal rank fusion,
        sum of weight / (rrf_k + rank). See the README for how they compare.
        """
        dense_ids = [i for i, _ in dense_hits]
        ids = list(dict.fromkeys([*dense_ids, *(i for i, _ in bm25_hits)]))
        if not ids:
            return [], {}
        chunks, vectors = self.snapshot.fetch(ids)
        self.snapshot.prefetch_documents({chunk.source for chunk in chunks})
        dense_weight, bm25_weight = self.settings.dense_weight, self.settings.bm25_weight
        if query_vector is None:
            similarity = np.full(len(ids), np.nan)
        else:
            similarity = vectors @ query_vector
        if not bm25_hits or not dense_ids:  # one retriever only: keep its own order
            scores = {i: float(similarity[n]) for n, i in enumerate(ids)} if dense_ids else dict(bm25_hits)
        elif self.settings.fusion == "rrf":
            scores = dict.fromkeys(ids, 0.0)
            for weight, ranking in ((dense_weight, dense_ids), (bm25_weight, [i for i, _ in bm25_hits])):
                for rank, chunk_id in enumerate(ranking, start=1):
                    scores[chunk_id] += weight / (self.settings.rrf_k + rank)
        else:
            best_bm25 = max(s for _, s in bm25_hits)
            bm25 = dict(bm25_hits)
            scores = {
                i: dense_weight * float(similarity[n]) + bm25_weight * bm25.get(i, 0.0) / best_bm25
                for n, i in enumerate(ids)
            }
        position = {i: n for n, i in enumerate(ids)}
        ordered = sorted(scores, key=lambda i: -scores[i])
        return [_Hit(i, scores[i], float(similarity[position[i]])) for i in ordered], dict(zip(ids, chunks))

    def _merge(self, hits: list[_Hit], chunks: dict[int, Chunk]) -> list[_Group]:
        """Merge hits that overlap or touch in the same file, best group first."""
        groups: list[_Group] = []
        # Only groups of the same file can join: looking at those alone keeps this linear-ish
        # (it was most of a cached search's time when every group was tried for every hit).
        # A passage stays on one page of a paged document (its label names one page).
        by_place: dict[tuple[str, int | None], list[_Group]] = {}
        documents = self.snapshot.documents
        for hit in hits:
            chunk = chunks[hit.chunk_id]
            sums = self._line_sums(chunk.source)
            arrival = _Group(
                chunk.source, chunk.start_line, chunk.end_line, chunk.start_char, chunk.end_char, hit.score, hit.dense,
                sums.text_lines(1, chunk.start_line - 1), sums.text_lines(1, chunk.end_line),
            )
            place = (chunk.source, documents[chunk.source].locate(chunk.start_line)[0])
            same_file = by_place.setdefault(place, [])
            home = next((group for group in same_file if self._joinable(group, arrival)), None)
            if home is None:
                groups.append(arrival)
                same_file.append(arrival)
                continue
            if not home.absorb(arrival):
                continue
            # The wider group may now reach another (hits on lines 2 and 4, then 3): join those too.
            for other in [group for group in same_file if group is not home]:
                if self._joinable(home, other):
                    home.absorb(other)
                    groups.remove(other)
                    same_file.remove(other)
        groups.sort(key=lambda g: -g.score)
        return groups

    def _joinable(self, group: _Group, other: _Group) -> bool:
        if group.text_before > other.text_through or other.text_before > group.text_through:
            return False  # something unretrieved lies between them
        low, high = min(group.start, other.start), max(group.end, other.end)
        if low == high and other.start_char is not None and group.start_char is not None:
            merged = max(group.end_char, other.end_char) - min(group.start_char, other.start_char)
            return merged <= self.settings.max_passage_chars
        return self._line_sums(group.source).chars(low, high) <= self.settings.max_passage_chars

    def _line_sums(self, source: str) -> _LineSums:
        sums = self._sums.get(source)
        if sums is None:  # a race only builds the same table twice
            sums = self._sums[source] = _LineSums(self.snapshot.documents[source].lines)
        return sums

    def _passage(self, group: _Group) -> Passage:
        page, start = self.snapshot.documents[group.source].locate(group.start)
        return Passage(
            source=group.source,
            page=page,
            start_line=start,
            end_line=start + group.end - group.start,
            text=self.passage_text(group.source, group.start, group.end, group.start_char, group.end_char),
            score=round(group.score, 6),
            start_char=group.start_char,
            end_char=group.end_char,
            dense_score=None if np.isnan(group.dense) else round(group.dense, 4),
        )

    def passage_text(self, source: str, start: int, end: int, start_char: int | None = None, end_char: int | None = None) -> str:
        lines = self.snapshot.documents[source].lines
        if start_char is not None:
            return lines[start - 1][start_char:end_char]
        return "\n".join(lines[start - 1 : end])

