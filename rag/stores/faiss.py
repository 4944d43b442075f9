"""The default store, on disk: FAISS vectors, the chunk store, the documents and a manifest.

Layout of an index folder:

    CURRENT            name of the live generation (replaced atomically)
    .lock              held while a build runs
    gen-<id>/          one complete, immutable generation:
        manifest.json  format version, model, dimension, per-file fingerprints, artifact sizes
        chunks.jsonl   one chunk per line, in vector order
        documents.jsonl  the lines of every indexed file (answers are checked against these)
        dense.faiss    the FAISS index: it stores the vectors themselves (flat storage, for HNSW
                       too), which incremental builds reuse and fusion reads, so they are kept once

A build writes a new generation beside the live one and only then swaps
CURRENT with os.replace, so a build that is interrupted or fails at any point
leaves the previous generation in place and queryable.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.chunker import embedding_text
from rag.errors import IndexCorruptError, IndexIncompatibleError, IndexNotFoundError, IndexWriteError
from rag.stores.base import (
    FORMAT_VERSION, KEEP_GENERATIONS, READABLE_FORMATS, DocumentRecord, IndexView, Store, frequencies_of, searchable_mask,
)
from rag.text import DocumentFrequencies, bm25_terms
from rag.types import Chunk

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
ARTIFACTS = ("chunks.jsonl", "documents.jsonl", "dense.faiss")


class BM25Index:
    """BM25 over the chunks' indexed text, in this process (bm25s)."""

    def __init__(self, texts: Sequence[str]):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
        self._retriever = bm25s.BM25()
        self._size = len(texts)
        self._retriever.index([bm25_terms(text) for text in texts], show_progress=False)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """The best n chunks with a positive score, best first (ties in index order)."""
        n = min(n, self._size)
        terms = bm25_terms(query)
        if n == 0 or not terms:
            return []
        scores = self._retriever.get_scores(terms)
        positive = np.flatnonzero(scores > 0)
        if len(positive) > n:
            positive = np.sort(positive[np.argpartition(-scores[positive], n - 1)[:n]])
        best = positive[np.argsort(-scores[positive], kind="stable")]
        return [(int(i), float(scores[i])) for i in best]


class IndexSnapshot(IndexView):
    """One FAISS generation, loaded into memory: chunks, documents, the FAISS index (holding the
    vectors) and, built on first use, BM25."""

    def __init__(self, path: Path, manifest: dict, chunks: list[Chunk], documents: dict[str, DocumentRecord],
                 vectors: np.ndarray, dense):
        super().__init__()
        self.path = path
        self.location = str(path.parent)
        self.manifest = manifest
        self.chunks = chunks
        self.documents = documents
        self.vectors = vectors  # a view of the vectors inside `dense`, no copy
        self.dense = dense
        self._bm25: BM25Index | None = None
        self._searchable = searchable_mask(chunks)

    @property
    def size(self) -> int:
        return len(self.chunks)

    @cached_property
    def chunk_ids_by_source(self) -> dict[str, list[int]]:
        ids: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            ids.setdefault(chunk.source, []).append(i)
        return ids

    @property
    def bm25(self) -> BM25Index:
        with self._lazy_lock:
            if self._bm25 is None:
                documents = self.documents
                self._bm25 = BM25Index([
                    embedding_text(c, documents[c.source].title, documents[c.source].wrapped) for c in self.chunks
                ])
            return self._bm25

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        fetch = min(n * 2, self.size)  # room for the unsearchable ones filtered out below
        if fetch == 0:
            return []
        scores, ids = self.dense.search(vector[None, :].astype(np.float32), fetch)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and self._searchable[i]][:n]

    def bm25_search(self, query: str, n: int) -> list[tuple[int, float]]:
        return [(i, s) for i, s in self.bm25.search(query, n * 2) if self._searchable[i]][:n]

    def fetch(self, ids: Sequence[int]) -> tuple[list[Chunk], np.ndarray]:
        return [self.chunks[i] for i in ids], self.vectors[list(ids)]

    def chunks_of(self, source: str) -> tuple[list[Chunk], np.ndarray]:
        return self.fetch(self.chunk_ids_by_source.get(source, []))

    def file_sha256(self, source: str) -> str | None:
        record = self.documents.get(source)
        return record.sha256 if record else None

    def _load_frequencies(self) -> DocumentFrequencies:
        return frequencies_of(self.documents.values())

    def warm_up(self) -> None:
        super().warm_up()
        _ = self.bm25


def stored_vectors(dense) -> np.ndarray:
    """The vectors a flat or HNSW-flat FAISS index stores, as a read-only view of its memory
    (valid while the index lives: an IndexSnapshot holds both)."""
    import faiss

    flat = faiss.downcast_index(dense.storage) if isinstance(dense, faiss.IndexHNSW) else dense
    if not isinstance(flat, faiss.IndexFlat):
        raise TypeError(f"{type(flat).__name__} does not store its vectors")
    if flat.ntotal == 0:
        return np.zeros((0, flat.d), dtype=np.float32)
    vectors = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
    vectors.flags.writeable = False
    return vectors


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_generation(
    index_dir: Path,
    manifest: dict,
    chunks: list[Chunk],
    documents: list[DocumentRecord],
    dense_index,
) -> Path:
    """Write a complete generation and make it the live one. Raises IndexWriteError."""
    import faiss

    # Nanoseconds keep names in build order even for several builds within one second.
    generation = f"gen-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}"
    target = index_dir / generation
    staging = index_dir / f".tmp-{generation}"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        _write_file(
            staging / "chunks.jsonl",
            "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks).encode(),
        )
        _write_file(
            staging / "documents.jsonl",
            "".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in documents).encode(),
        )
        _write_file(staging / "dense.faiss", faiss.serialize_index(dense_index).tobytes())
        manifest = {**manifest, "format_version": FORMAT_VERSION, "generation": generation}
        manifest["artifacts"] = {name: (staging / name).stat().st_size for name in ARTIFACTS}
        _write_file(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        _fsync_dir(staging)
        os.replace(staging, target)
        pointer = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        _write_file(pointer, generation.encode())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if current_generation(index_dir) != generation:  # never went live: do not leave it to crowd out others
            shutil.rmtree(target, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise IndexWriteError(
            f"could not write the index at {index_dir} ({reason}); the previous index, if any, is unchanged"
        ) from None
    remove_stale(index_dir)
    return target


def remove_stale(index_dir: Path) -> None:
    """Delete unfinished builds and generations older than the last few. Call under the build lock."""
    live = current_generation(index_dir)
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    keep = {live} | {p.name for p in generations[-KEEP_GENERATIONS:]}
    for path in index_dir.iterdir():
        stale_build = path.name.startswith(".tmp-") or path.name.startswith(f".{CURRENT}.")
        old_generation = path.name.startswith("gen-") and path.name not in keep
        if stale_build or old_generation:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def generation_stamp(index_dir: Path) -> tuple[int, ...] | None:
    """What changes whenever CURRENT is swapped (one stat, no read: it is checked on every search),
    or None when there is no CURRENT."""
    try:
        st = os.stat(os.path.join(index_dir, CURRENT))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise IndexCorruptError(str(index_dir), f"cannot read {CURRENT}: {exc.strerror}") from None
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


def current_generation(index_dir: Path) -> str | None:
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise IndexCorruptError(str(index_dir), f"cannot read {CURRENT}: {exc.strerror}") from None
    return name or None


def read_manifest(index_dir: Path) -> dict | None:
    """The live manifest, or None when there is no index yet."""
    generation = current_generation(index_dir)
    if generation is None:
        return None
    try:
        manifest = json.loads((index_dir / generation / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(str(index_dir), f"manifest unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("generation") != generation:
        raise IndexCorruptError(str(index_dir), "manifest does not describe the live generation")
    return manifest


def load_snapshot(index_dir: Path) -> IndexSnapshot:
    """Load the live generation, checking it is complete. Raises IndexNotFound/Corrupt/Incompatible."""
    import faiss

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexNotFoundError(str(index_dir))
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise IndexIncompatibleError(
            f"the index at {index_dir} has format version {manifest.get('format_version')!r}, this version "
            f"reads {' and '.join(map(str, READABLE_FORMATS))}: rebuild it with `rag index`"
        )
    path = index_dir / manifest["generation"]
    for name, size in manifest.get("artifacts", {}).items():
        try:
            actual = (path / name).stat().st_size
        except OSError:
            raise IndexCorruptError(str(index_dir), f"{name} is missing") from None
        if actual != size:
            raise IndexCorruptError(str(index_dir), f"{name} is {actual} bytes, expected {size}")
    try:
        with open(path / "chunks.jsonl", encoding="utf-8") as handle:
            chunks = [Chunk.from_dict(json.loads(line)) for line in handle]
        documents = {}
        with open(path / "documents.jsonl", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                documents[record["source"]] = DocumentRecord(**record)
        dense = faiss.read_index(str(path / "dense.faiss"))
        vectors = stored_vectors(dense)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, AttributeError) as exc:
        raise IndexCorruptError(str(index_dir), f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not (len(chunks) == vectors.shape[0] == dense.ntotal == manifest.get("chunk_count")):
        raise IndexCorruptError(str(index_dir), "chunk, vector and FAISS counts disagree")
    if vectors.ndim != 2 or vectors.shape[1] != manifest.get("dim"):
        raise IndexCorruptError(str(index_dir), "vector dimension does not match the manifest")
    return IndexSnapshot(path=path, manifest=manifest, chunks=chunks, documents=documents, vectors=vectors, dense=dense)


def build_dense_index(vectors: np.ndarray, approximate_threshold: int, hnsw_m: int, hnsw_ef_search: int):
    """Exact inner product below the threshold, HNSW (storing the vectors flat) at or above it."""
    import faiss

    dim = vectors.shape[1]
    if vectors.shape[0] >= approximate_threshold:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = max(40, hnsw_m * 2)
        index.hnsw.efSearch = hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


class FaissStore(Store):
    """Generations as folders under `index_dir`, a CURRENT pointer swapped atomically, a file lock."""

    def __init__(self, index_dir: Path, approximate_threshold: int = 50_000, hnsw_m: int = 32, hnsw_ef_search: int = 128):
        self.index_dir = Path(index_dir)
        self.location = str(self.index_dir)
        self.approximate_threshold = approximate_threshold
        self.hnsw_m = hnsw_m
        self.hnsw_ef_search = hnsw_ef_search

    def stamp(self) -> Hashable | None:
        return generation_stamp(self.index_dir)

    def load(self) -> IndexSnapshot:
        return load_snapshot(self.index_dir)

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.index_dir / ".lock", "a+")
        except OSError as exc:
            raise IndexWriteError(f"cannot write to the index folder {self.index_dir} ({exc.strerror})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexWriteError(f"another `rag index` is building {self.index_dir}; wait for it to finish") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, manifest: dict, chunks: list[Chunk], documents: list[DocumentRecord], vectors: np.ndarray) -> None:
        dense = build_dense_index(vectors, self.approximate_threshold, self.hnsw_m, self.hnsw_ef_search)
        write_generation(self.index_dir, manifest, chunks, documents, dense)

    def remove_stale(self) -> None:
        remove_stale(self.index_dir)
