"""Building the index: read, chunk, embed only what changed, write atomically."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunker import Chunker, document_title, embedding_text
from rag.embedder import Embedder
from rag.errors import CorpusError, IndexError_, IndexNotFoundError
from rag.loaders import Document, NoTextLayer, ReadLimits, check_corpus, iter_corpus_files, read_document
from rag.settings import Settings
from rag.stores import DocumentRecord, IndexView, Store, open_store
from rag.types import Chunk

log = logging.getLogger(__name__)

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


def _known(live: IndexView | None, source: str):
    """For read_document: the indexed record as a Document again when the file's bytes are unchanged
    (the hash is compared first, so a changed file's record is never fetched)."""
    if live is None or live.file_sha256(source) is None:
        return None

    def same(sha256: str) -> Document | None:
        if live.file_sha256(source) != sha256:
            return None
        record = live.documents[source]
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

    def _live(self, store: Store) -> IndexView | None:
        """The live generation, if there is a readable one."""
        try:
            return store.load()
        except IndexNotFoundError:
            return None
        except IndexError_ as exc:
            log.warning("rebuilding from scratch: %s", exc)
            return None

    def _reusable(self, live: IndexView | None) -> IndexView | None:
        """The live generation, if its vectors can be reused for unchanged files."""
        same = live is not None and (
            live.manifest.get("embedding_model") == self.embedder.name
            and live.manifest.get("chunking") == self.chunking_config
        )
        return live if same else None

    def build(self, paths: list[Path], store: Store | None = None, progress: bool | None = None) -> IndexStats:
        """Index `paths` into `store` (the one the settings name when not given)."""
        started = time.perf_counter()
        store = store or open_store(self.settings)
        roots = [check_corpus(Path(p)) for p in paths]
        stats = IndexStats()
        with store.build_lock():
            store.remove_stale()
            live = self._live(store)
            previous = self._reusable(live)
            # Lines do not depend on the model: an unchanged PDF is not parsed again even when re-embedded.
            documents = self._read(roots, stats, live)
            if not documents:
                raise CorpusError(
                    f"no readable {', '.join(self.settings.extensions)} files under {', '.join(map(str, paths))}"
                )
            chunks, vectors = self._chunk_and_embed(documents, previous, stats, progress)
            stats.index_type = store.index_type(len(chunks), self.settings.approximate_index_threshold)
            manifest = {
                "embedding_model": self.embedder.name,
                "dim": int(self.embedder.dim),
                "chunking": self.chunking_config,
                "chunk_count": len(chunks),
                "corpus": [str(r) for r in roots],
                "files": {d.source: {"sha256": d.sha256, "lines": len(d.lines)} for d in documents},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "index_type": stats.index_type,
            }
            records = [
                DocumentRecord(d.source, d.sha256, d.lines, document_title(d.lines, d.wrapped), d.pages, d.boxes, d.wrapped, d.path)
                for d in documents
            ]
            store.write(manifest, chunks, records, vectors)
            if previous is not None:
                stats.removed_files = sorted(set(previous.manifest.get("files", {})) - {d.source for d in documents})
        stats.files = len(documents)
        stats.pages = sum(len(d.pages) for d in documents if d.pages)
        stats.chunks = len(chunks)
        stats.seconds = time.perf_counter() - started
        return stats

    def _read(self, roots: list[Path], stats: IndexStats, live: IndexView | None) -> list[Document]:
        documents: dict[str, Document] = {}
        multiple = len(roots) > 1
        for root in roots:
            for path, source in iter_corpus_files(root, self.settings.extensions):
                # With several roots, sources keep the root's name so they stay unique.
                name = f"{root.name}/{source}" if multiple and root.is_dir() else source
                try:
                    doc = read_document(path, name, self.limits, known=_known(live, name))
                except NoTextLayer:
                    stats.no_text_layer_files += 1
                    doc = None
                if doc is None:
                    stats.skipped_files += 1
                else:
                    documents[name] = doc
        return list(documents.values())

    def _chunk_and_embed(
        self, documents: list[Document], previous: IndexView | None, stats: IndexStats, progress: bool | None
    ) -> tuple[list[Chunk], np.ndarray]:
        dim = int(self.embedder.dim)
        parts: list[tuple[list[Chunk], np.ndarray | None, list[str]]] = []
        for doc in documents:
            if previous is not None and previous.file_sha256(doc.source) == doc.sha256:
                parts.append((*previous.chunks_of(doc.source), []))
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
        if self.settings.embedding_engine == "ray":
            from rag.ray_embedding import embed_on_ray

            return embed_on_ray(texts, self.settings)
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
