"""The index on disk: FAISS vectors, the chunk store, the documents and a manifest.

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

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import IndexCorruptError, IndexIncompatibleError, IndexNotFoundError, IndexWriteError
from rag.loaders.document import Page
from rag.types import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: documents may carry pages; 2: no vectors.npy beside dense.faiss (1 had one); all read
READABLE_FORMATS = (1, 2, 3)
CURRENT = "CURRENT"
ARTIFACTS = ("chunks.jsonl", "documents.jsonl", "dense.faiss")
_KEEP_GENERATIONS = 2  # the live one and the one before, for readers still holding it


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


@dataclass
class IndexSnapshot:
    """One generation of the index, loaded into memory; immutable once built."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    documents: dict[str, DocumentRecord]
    vectors: np.ndarray  # a view of the vectors inside `dense`, no copy
    dense: object  # faiss.Index
    _bm25: object | None = field(default=None, repr=False)

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding_model"]

    @property
    def size(self) -> int:
        return len(self.chunks)

    @cached_property
    def chunk_ids_by_source(self) -> dict[str, list[int]]:
        ids: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            ids.setdefault(chunk.source, []).append(i)
        return ids

    def check_model(self, model: str) -> None:
        if self.embedding_model != model:
            raise IndexIncompatibleError(
                f"the index at {self.path.parent} was built with embedding model {self.embedding_model!r} but "
                f"the settings ask for {model!r}: rebuild it with `rag index`"
            )


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
    keep = {live} | {p.name for p in generations[-_KEEP_GENERATIONS:]}
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
