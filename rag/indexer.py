"""Building the index: read, chunk, embed only what changed, write atomically."""

from __future__ import annotations

import fcntl
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunker import Chunker
from rag.embedder import Embedder
from rag.errors import CorpusError, IndexError_, IndexNotFoundError, IndexWriteError
from rag.loaders import Document, NoTextLayer, ReadLimits, check_corpus, iter_corpus_files, read_document
from rag.settings import Settings
from rag.store import DocumentRecord, IndexSnapshot, load_snapshot, remove_stale, write_generation
from rag.text import join_wrapped
from rag.types import Chunk

log = logging.getLogger(__name__)

_TITLE_MAX_WORDS = 16


@dataclass
class IndexStats:
    files: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    reused_files: int = 0
    changed_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    skipped_files: int = 0
    no_text_layer_files: int = 0  # scanned PDFs (counted in skipped_files too)
    pages: int = 0
    seconds: float = 0.0
    index_type: str = ""

    def summary(self) -> str:
        return (
            f"indexed {self.files} files{f' ({self.pages} pages)' if self.pages else ''} into {self.chunks} chunks in {self.seconds:.1f} s "
            f"({self.embedded_chunks} chunks embedded, {self.reused_files} files unchanged, "
            f"{len(self.removed_files)} removed, {self.skipped_files} skipped{self._scanned}; {self.index_type} index)"
        )

    @property
    def _scanned(self) -> str:
        return f", of them {self.no_text_layer_files} without a text layer (scanned)" if self.no_text_layer_files else ""


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


def build_dense_index(vectors: np.ndarray, settings: Settings):
    import faiss

    dim = vectors.shape[1]
    if vectors.shape[0] >= settings.approximate_index_threshold:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = max(40, settings.hnsw_m * 2)
        index.hnsw.efSearch = settings.hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / ".lock", "a+")
    except OSError as exc:
        raise IndexWriteError(f"cannot write to the index folder {index_dir} ({exc.strerror})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexWriteError(f"another `rag index` is building {index_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _known(record: DocumentRecord | None):
    """For read_document: the record as a Document again when the file's bytes are unchanged."""
    if record is None:
        return None

    def same(sha256: str) -> Document | None:
        if record.sha256 != sha256:
            return None
        return Document(record.source, record.lines, record.sha256, record.pages, record.boxes, record.wrapped,
                        path=record.path)

    return same


class Indexer:
    def __init__(self, settings: Settings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self.chunker = Chunker(
            embedder.count_tokens, max_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens
        )
        self.limits = ReadLimits(settings.max_file_bytes, settings.reader_timeout_s, settings.reader_memory_mb)

    @property
    def chunking_config(self) -> dict:
        return {"chunk_tokens": self.settings.chunk_tokens, "chunk_overlap_tokens": self.settings.chunk_overlap_tokens}

    def _live(self, index_dir: Path) -> IndexSnapshot | None:
        """The live generation, if there is a readable one."""
        try:
            return load_snapshot(index_dir)
        except IndexNotFoundError:
            return None
        except IndexError_ as exc:
            log.warning("rebuilding from scratch: %s", exc)
            return None

    def _reusable(self, live: IndexSnapshot | None) -> IndexSnapshot | None:
        """The live generation, if its vectors can be reused for unchanged files."""
        same = live is not None and (
            live.manifest.get("embedding_model") == self.embedder.name
            and live.manifest.get("chunking") == self.chunking_config
        )
        return live if same else None

    def build(self, paths: list[Path], index_dir: Path, progress: bool | None = None) -> IndexStats:
        started = time.perf_counter()
        roots = [check_corpus(Path(p)) for p in paths]
        stats = IndexStats()
        with build_lock(index_dir):
            remove_stale(index_dir)
            live = self._live(index_dir)
            previous = self._reusable(live)
            # Lines do not depend on the model: an unchanged PDF is not parsed again even when re-embedded.
            documents = self._read(roots, stats, live.documents if live else {})
            if not documents:
                raise CorpusError(
                    f"no readable {', '.join(self.settings.extensions)} files under {', '.join(map(str, paths))}"
                )
            chunks, vectors = self._chunk_and_embed(documents, previous, stats, progress)
            manifest = {
                "embedding_model": self.embedder.name,
                "dim": int(self.embedder.dim),
                "chunking": self.chunking_config,
                "chunk_count": len(chunks),
                "corpus": [str(r) for r in roots],
                "files": {d.source: {"sha256": d.sha256, "lines": len(d.lines)} for d in documents},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            dense = build_dense_index(vectors, self.settings)
            stats.index_type = "HNSW" if len(chunks) >= self.settings.approximate_index_threshold else "exact"
            manifest["index_type"] = stats.index_type
            records = [
                DocumentRecord(d.source, d.sha256, d.lines, document_title(d.lines, d.wrapped), d.pages, d.boxes, d.wrapped, d.path)
                for d in documents
            ]
            write_generation(index_dir, manifest, chunks, records, dense)
            if previous is not None:
                stats.removed_files = sorted(set(previous.documents) - {d.source for d in documents})
        stats.files = len(documents)
        stats.pages = sum(len(d.pages) for d in documents if d.pages)
        stats.chunks = len(chunks)
        stats.seconds = time.perf_counter() - started
        return stats

    def _read(self, roots: list[Path], stats: IndexStats, previous: dict[str, DocumentRecord]) -> list[Document]:
        documents: dict[str, Document] = {}
        multiple = len(roots) > 1
        for root in roots:
            for path, source in iter_corpus_files(root, self.settings.extensions):
                # With several roots, sources keep the root's name so they stay unique.
                name = f"{root.name}/{source}" if multiple and root.is_dir() else source
                try:
                    doc = read_document(path, name, self.limits, known=_known(previous.get(name)))
                except NoTextLayer:
                    stats.no_text_layer_files += 1
                    doc = None
                if doc is None:
                    stats.skipped_files += 1
                else:
                    documents[name] = doc
        return list(documents.values())

    def _chunk_and_embed(
        self, documents: list[Document], previous: IndexSnapshot | None, stats: IndexStats, progress: bool | None
    ) -> tuple[list[Chunk], np.ndarray]:
        dim = int(self.embedder.dim)
        parts: list[tuple[list[Chunk], np.ndarray | None, list[str]]] = []
        for doc in documents:
            old = previous.documents.get(doc.source) if previous else None
            if old is not None and old.sha256 == doc.sha256:
                ids = previous.chunk_ids_by_source.get(doc.source, [])
                parts.append(([previous.chunks[i] for i in ids], previous.vectors[ids], []))
                stats.reused_files += 1
                continue
            chunks = self.chunker(doc)
            title = document_title(doc.lines, doc.wrapped)
            parts.append((chunks, None, [embedding_text(c, title, doc.wrapped) for c in chunks]))
            stats.changed_files.append(doc.source)

        texts = [t for _, vectors, texts in parts if vectors is None for t in texts]
        fresh = self._embed(texts, progress)
        stats.embedded_chunks = len(texts)
        all_chunks: list[Chunk] = []
        all_vectors: list[np.ndarray] = []
        offset = 0
        for chunks, vectors, texts in parts:
            if vectors is None:
                vectors = fresh[offset : offset + len(texts)]
                offset += len(texts)
            all_chunks.extend(chunks)
            all_vectors.append(vectors.reshape(-1, dim))
        return all_chunks, np.concatenate(all_vectors).astype(np.float32, copy=False)

    def _embed(self, texts: list[str], progress: bool | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, int(self.embedder.dim)), dtype=np.float32)
        show = progress if progress is not None else (sys.stderr.isatty() and len(texts) > 256)
        if not show:
            return self.embedder.encode(texts)
        from tqdm import tqdm

        batch = self.embedder.batch_size * 8
        out = []
        with tqdm(total=len(texts), unit="chunk", desc="embedding", file=sys.stderr) as bar:
            for start in range(0, len(texts), batch):
                out.append(self.embedder.encode(texts[start : start + batch]))
                bar.update(len(out[-1]))
        return np.concatenate(out)
