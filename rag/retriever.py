"""Finding passages: dense (FAISS) and BM25 search fused with reciprocal rank fusion.

Hits from the same file that overlap or touch are merged into one passage, and
chunks with the same text (an advert repeated across files) appear once, so
the top k are k different places.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rag.embedder import Embedder
from rag.errors import ConfigError, InputError
from rag.indexer import embedding_text
from rag.settings import Settings
from rag.store import IndexSnapshot
from rag.text import DocumentFrequencies
from rag.types import Chunk, Passage

Mode = Literal["hybrid", "dense", "bm25"]
# Keeps decimals and thousands together ("48.9", "1,000") so numbers match exactly.
_BM25_TOKEN_PATTERN = r"(?u)\b\w+(?:[.,]\d+)*\b"


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


class BM25Index:
    def __init__(self, texts: Sequence[str]):
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import

        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self._retriever = bm25s.BM25()
        self._size = len(texts)
        self._retriever.index(self._tokenize(texts), show_progress=False)

    def _tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        return self._bm25s.tokenize(
            list(texts),
            stopwords="en",
            stemmer=self._stemmer,
            token_pattern=_BM25_TOKEN_PATTERN,
            return_ids=False,
            show_progress=False,
        )

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        n = min(n, self._size)
        if n == 0:
            return []
        ids, scores = self._retriever.retrieve(self._tokenize([query]), k=n, show_progress=False)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]


class Retriever:
    def __init__(self, snapshot: IndexSnapshot, embedder: Embedder, settings: Settings, reranker: Reranker | None = None):
        snapshot.check_model(embedder.name)
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker
        self._bm25: BM25Index | None = None
        self._bm25_lock = threading.Lock()
        self._document_frequencies: DocumentFrequencies | None = None
        # Chunks that repeat text already seen (boilerplate across files) never become passages.
        seen: set[str] = set()
        self._searchable = np.ones(len(snapshot.chunks), dtype=bool)
        for i, chunk in enumerate(snapshot.chunks):
            key = " ".join(chunk.text.lower().split())
            if chunk.boilerplate or key in seen:
                self._searchable[i] = False
            seen.add(key)

    @property
    def bm25(self) -> BM25Index:
        with self._bm25_lock:
            if self._bm25 is None:
                titles = {s: d.title for s, d in self.snapshot.documents.items()}
                self._bm25 = BM25Index([embedding_text(c, titles.get(c.source)) for c in self.snapshot.chunks])
            return self._bm25

    @property
    def document_frequencies(self) -> DocumentFrequencies:
        """Content-word document frequencies of the indexed documents (built on first use)."""
        with self._bm25_lock:
            if self._document_frequencies is None:
                self._document_frequencies = DocumentFrequencies("\n".join(d.lines) for d in self.snapshot.documents.values())
            return self._document_frequencies

    def warm_up(self) -> None:
        _ = self.bm25
        _ = self.document_frequencies

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        query = query.strip()
        if not query:
            raise InputError("the question is empty")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise InputError("k must be between 1 and 100")
        candidates = max(self.settings.candidate_k, k * 4)
        query_vector = self.embedder.encode_query(query) if mode != "bm25" else None
        dense_ids = self._dense_ranking(query_vector, candidates) if mode != "bm25" else []
        bm25_hits = []
        if mode != "dense":
            bm25_hits = [(i, s) for i, s in self.bm25.search(query, candidates * 2) if self._searchable[i]][:candidates]
        hits = self._fuse(dense_ids, bm25_hits, query_vector)
        passages = self._merge(hits)
        if self.reranker is not None:
            passages = self.reranker.rerank(query, passages)
        return passages[:k]

    def _dense_ranking(self, query_vector: np.ndarray, n: int) -> list[int]:
        fetch = min(n * 2, self.snapshot.size)  # room for the unsearchable ones filtered out below
        if fetch == 0:
            return []
        _, ids = self.snapshot.dense.search(query_vector[None, :].astype(np.float32), fetch)
        return [int(i) for i in ids[0] if i >= 0 and self._searchable[i]][:n]

    def _fuse(self, dense_ids: list[int], bm25_hits: list[tuple[int, float]], query_vector: np.ndarray | None) -> list[_Hit]:
        """Combine both rankings into one.

        "weighted" (default): dense_weight * cosine + bm25_weight * BM25 / best BM25 score,
        over the union of both candidate lists. "rrf": reciprocal rank fusion,
        sum of weight / (rrf_k + rank). See the README for how they compare.
        """
        ids = list(dict.fromkeys([*dense_ids, *(i for i, _ in bm25_hits)]))
        if not ids:
            return []
        dense_weight, bm25_weight = self.settings.dense_weight, self.settings.bm25_weight
        if query_vector is None:
            similarity = np.full(len(ids), np.nan)
        else:
            similarity = self.snapshot.vectors[ids] @ query_vector
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
        return [_Hit(i, scores[i], float(similarity[position[i]])) for i in ordered]

    def _merge(self, hits: list[_Hit]) -> list[Passage]:
        """Merge hits that overlap or touch in the same file; keep the best score of each group."""
        groups: list[list[_Hit]] = []
        # Only groups of the same file can join: looking at those alone keeps this linear-ish
        # (it was most of a cached search's time when every group was tried for every hit).
        by_source: dict[str, list[list[_Hit]]] = {}
        for hit in hits:
            chunk = self.snapshot.chunks[hit.chunk_id]
            same_file = by_source.setdefault(chunk.source, [])
            home = next((group for group in same_file if self._joinable(group, chunk)), None)
            if home is None:
                groups.append([hit])
                same_file.append(groups[-1])
                continue
            home.append(hit)
            # The hit may bridge its group and another (hits on lines 2 and 4, then 3): join those too.
            for other in [group for group in same_file if group is not home]:
                source, start, end, start_char, end_char = self._span(other)
                if self._joinable(home, Chunk(source, start, end, "", start_char, end_char)):
                    home.extend(other)
                    groups.remove(other)
                    same_file.remove(other)
        passages = [self._passage(group) for group in groups]
        passages.sort(key=lambda p: -p.score)
        return passages

    def _span(self, group: list[_Hit]) -> tuple[str, int, int, int | None, int | None]:
        chunks = [self.snapshot.chunks[h.chunk_id] for h in group]
        start = min(c.start_line for c in chunks)
        end = max(c.end_line for c in chunks)
        if start == end and all(c.start_char is not None for c in chunks):
            return chunks[0].source, start, end, min(c.start_char for c in chunks), max(c.end_char for c in chunks)
        return chunks[0].source, start, end, None, None

    def _joinable(self, group: list[_Hit], chunk: Chunk) -> bool:
        source, start, end, start_char, end_char = self._span(group)
        if chunk.source != source:
            return False
        lines = self.snapshot.documents[source].lines
        low, high = min(start, chunk.start_line), max(end, chunk.end_line)
        gap = range(min(end, chunk.end_line) + 1, max(start, chunk.start_line))
        if any(lines[n - 1].strip() for n in gap):
            return False  # something unretrieved lies between them
        if low == high and chunk.start_char is not None and start_char is not None:
            merged = max(end_char, chunk.end_char) - min(start_char, chunk.start_char)
            return merged <= self.settings.max_passage_chars
        return sum(len(lines[n - 1]) + 1 for n in range(low, high + 1)) <= self.settings.max_passage_chars

    def _passage(self, group: list[_Hit]) -> Passage:
        source, start, end, start_char, end_char = self._span(group)
        return Passage(
            source=source,
            start_line=start,
            end_line=end,
            text=self.passage_text(source, start, end, start_char, end_char),
            score=round(max(h.score for h in group), 6),
            start_char=start_char,
            end_char=end_char,
            dense_score=None if np.isnan(group[0].dense) else round(max(h.dense for h in group), 4),
        )

    def passage_text(self, source: str, start: int, end: int, start_char: int | None = None, end_char: int | None = None) -> str:
        lines = self.snapshot.documents[source].lines
        if start_char is not None:
            return lines[start - 1][start_char:end_char]
        return "\n".join(lines[start - 1 : end])

