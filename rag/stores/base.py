"""What every index store keeps and offers: documents' lines, one generation's view for searches,
and an atomic way to replace it.

A store (FAISS files, or Milvus) holds generations: each build writes a complete new one and only
then makes it the live one, so readers see the old index or the new, never half of one. Readers
hold an `IndexView` of one generation: dense and BM25 search over its chunks, the chunks and
vectors by id, and the documents' lines that citations are checked against.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from rag.errors import IndexIncompatibleError
from rag.loaders.document import Page
from rag.text import DocumentFrequencies
from rag.types import Chunk

FORMAT_VERSION = 3  # 3: documents may carry pages; 2: no vectors.npy beside dense.faiss (1 had one); all read
READABLE_FORMATS = (1, 2, 3)
KEEP_GENERATIONS = 2  # the live one and the one before, for readers still holding it


@dataclass
class DocumentRecord:
    """An indexed file's lines. For a paged document (PDF) lines are numbered over the whole file here
    and within their page outside (passages, citations, labels): `locate` and `line_number` convert."""

    source: str
    sha256: str
    lines: list[str]
    title: str | None = None
    pages: list[Page] | None = None
    boxes: list[list[float] | None] | None = None  # per line: [x0, top, x1, bottom] in points on its page
    wrapped: list[bool] | None = None  # per line: continues the paragraph of the line before
    path: str | None = None  # the file read, for paged documents (their pages are rendered from it)

    def __post_init__(self) -> None:
        if self.pages and not isinstance(self.pages[0], Page):
            self.pages = [Page(*page) for page in self.pages]

    def to_dict(self) -> dict:
        record = {"source": self.source, "sha256": self.sha256, "title": self.title, "lines": self.lines}
        if self.pages is not None:
            record["pages"] = [[p.number, p.first_line, p.line_count, p.width, p.height] for p in self.pages]
            record.update(boxes=self.boxes, wrapped=self.wrapped, path=self.path)
        return record

    def page(self, number: int) -> Page:
        """One page, by its 1-based number; KeyError when the document has no such page."""
        if not self.pages or not 1 <= number <= len(self.pages):
            raise KeyError(number)
        return self.pages[number - 1]

    def locate(self, line: int) -> tuple[int | None, int]:
        """(page, line within the page) of a document line; (None, line) for a document without pages."""
        if not self.pages:
            return None, line
        low, high = 0, len(self.pages) - 1
        while low < high:  # the last page starting at or before the line
            mid = (low + high + 1) // 2
            if self.pages[mid].first_line <= line:
                low = mid
            else:
                high = mid - 1
        page = self.pages[low]
        return page.number, line - page.first_line + 1

    def line_number(self, page: int | None, line: int) -> int:
        """The document line of `line` within `page` (KeyError for a page it does not have)."""
        if not self.pages:
            return line
        return self.page(page or 1).first_line + line - 1


def searchable_mask(chunks: Sequence[Chunk]) -> np.ndarray:
    """Which chunks may become passages: not boilerplate, and not repeating the text of an earlier
    chunk (an advert across files), so the top k are k different places."""
    seen: set[str] = set()
    mask = np.ones(len(chunks), dtype=bool)
    for i, chunk in enumerate(chunks):
        key = " ".join(chunk.text.lower().split())
        if chunk.boilerplate or key in seen:
            mask[i] = False
        seen.add(key)
    return mask


class IndexView(abc.ABC):
    """One generation of an index, as searches read it; it never changes once built.

    Chunk ids are positions in the generation's chunk order (0..size-1) in every store.
    """

    manifest: dict
    documents: Mapping[str, DocumentRecord]
    location: str  # where it lives, for messages

    def __init__(self) -> None:
        self._lazy_lock = threading.Lock()
        self._frequencies: DocumentFrequencies | None = None

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding_model"]

    @property
    def size(self) -> int:
        return int(self.manifest.get("chunk_count", 0))

    def check_model(self, model: str) -> None:
        if self.embedding_model != model:
            raise IndexIncompatibleError(
                f"the index at {self.location} was built with embedding model {self.embedding_model!r} but "
                f"the settings ask for {model!r}: rebuild it with `rag index`"
            )

    def file_sha256(self, source: str) -> str | None:
        """The indexed bytes' hash of a file, from the manifest (no document is read)."""
        entry = self.manifest.get("files", {}).get(source)
        return entry.get("sha256") if entry else None

    @abc.abstractmethod
    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The n searchable chunks nearest `vector` (cosine), best first."""

    @abc.abstractmethod
    def bm25_search(self, query: str, n: int) -> list[tuple[int, float]]:
        """The n searchable chunks with the best positive BM25 score for `query`, best first."""

    @abc.abstractmethod
    def fetch(self, ids: Sequence[int]) -> tuple[list[Chunk], np.ndarray]:
        """The chunks and their vectors, in the order of `ids`."""

    @abc.abstractmethod
    def chunks_of(self, source: str) -> tuple[list[Chunk], np.ndarray]:
        """A file's chunks and vectors (an incremental build reuses them for an unchanged file)."""

    def prefetch_documents(self, sources: set[str]) -> None:
        """Make these documents ready to read (a store that reads them on use fetches them at once)."""

    @abc.abstractmethod
    def _load_frequencies(self) -> DocumentFrequencies: ...

    @property
    def document_frequencies(self) -> DocumentFrequencies:
        """Content-word document frequencies of the indexed documents (loaded on first use)."""
        with self._lazy_lock:
            if self._frequencies is None:
                self._frequencies = self._load_frequencies()
            return self._frequencies

    def warm_up(self) -> None:
        _ = self.document_frequencies


class Store(abc.ABC):
    """Where generations are written and found. `stamp()` is cheap (it runs before every search)
    and changes exactly when another generation goes live."""

    location: str

    @abc.abstractmethod
    def stamp(self) -> Hashable | None:
        """What identifies the live generation; None when there is none."""

    @abc.abstractmethod
    def load(self) -> IndexView:
        """The live generation. Raises IndexNotFound/Corrupt/Incompatible."""

    @abc.abstractmethod
    def build_lock(self) -> AbstractContextManager[None]:
        """Held while a build runs; a second build is refused with IndexWriteError."""

    @abc.abstractmethod
    def write(self, manifest: dict, chunks: list[Chunk], documents: list[DocumentRecord], vectors: np.ndarray) -> None:
        """Write a complete generation and make it the live one (raises IndexWriteError, leaving the
        live one as it was). Call under the build lock."""

    @abc.abstractmethod
    def remove_stale(self) -> None:
        """Drop unfinished builds and generations older than the last few. Call under the build lock."""

    def index_type(self, chunk_count: int, threshold: int) -> str:
        return "HNSW" if chunk_count >= threshold else "exact"


def frequencies_of(documents: Iterator[DocumentRecord] | Sequence[DocumentRecord]) -> DocumentFrequencies:
    titles: list[str | None] = []  # filled as the texts are read, in one pass over an iterator

    def texts() -> Iterator[str]:
        for document in documents:
            titles.append(document.title)
            yield "\n".join(document.lines)

    return DocumentFrequencies(texts(), titles)
