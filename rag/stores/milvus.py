"""The index in Milvus: vectors, BM25 and documents' lines where every API replica can reach them.

One code path for Milvus Lite (a local `.db` file, embedded in this process, or `milvus-lite server`)
and a Milvus standalone or distributed server (`http://host:19530`): pymilvus's MilvusClient.

Each build is a pair of collections of its own, and readers find the live one through an alias:

    <alias>_g<time>_<id>        chunks: id (its position, as in FAISS), vector, source, start_line,
                                end_line, start_char, end_char, text, boilerplate, searchable,
                                terms (an analysed text field) and sparse, the BM25 function's
                                output over terms
    <alias>_g<time>_<id>_docs   documents' lines, the manifest and the document frequencies, as
                                JSON cut into pieces that fit a VARCHAR

A build fills both, writes the manifest last, and only then points the alias at its chunks
collection, so a reader sees the old generation or the new, never half of one. The two before the
live one are dropped at the next build, as the FAISS store keeps two generations.

BM25 runs inside Milvus, on `terms`: the chunk's text as the service's BM25 terms (lower case,
numbers whole, stopwords out, Snowball stems; text.bm25_terms), which Milvus's standard analyser
splits on spaces. Milvus Lite has no stemming analyser, and the same terms in both stores give the
same ranking; a decimal's point becomes "_" (a word character), so "48.9" stays one term.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.chunker import embedding_text
from rag.errors import (
    IndexCorruptError, IndexIncompatibleError, IndexNotFoundError, IndexWriteError, RagError, StoreUnavailableError,
    import_extra,
)
from rag.settings import Settings
from rag.stores.base import (
    FORMAT_VERSION, KEEP_GENERATIONS, READABLE_FORMATS, DocumentRecord, IndexView, Store, frequencies_of, searchable_mask,
)
from rag.text import DocumentFrequencies, bm25_terms
from rag.types import Chunk

log = logging.getLogger(__name__)

_PIECE_BYTES = 60_000  # under a VARCHAR's 65,535-byte limit
_BATCH_ROWS = 1_000  # rows per insert or get
_DOCUMENT_CACHE = 256  # documents' lines kept per generation (citations and passages read them)
_LOCK_STALE_S = 6 * 3600  # a build lock older than this is taken to be a build that died
_BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, which the FAISS store uses


def _milvus():
    return import_extra("pymilvus", "scale", "a Milvus index store (RAG_VECTOR_STORE)")


def bm25_field_text(text: str) -> str:
    """A chunk's or a query's BM25 terms as the text Milvus's standard analyser splits back into them."""
    return " ".join(term.replace(".", "_").replace(",", "_") for term in bm25_terms(text))


def _pieces(text: str) -> list[str]:
    """`text` cut into pieces of at most _PIECE_BYTES UTF-8 bytes (never inside a character)."""
    data = text.encode()
    pieces, start = [], 0
    while start < len(data):
        end = min(start + _PIECE_BYTES, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back off to the character
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    return pieces or [""]


_CHUNK_FIELDS = ("source", "start_line", "end_line", "start_char", "end_char", "text", "boilerplate")


def _chunk_fields(chunk: Chunk) -> dict:
    fields = chunk.to_dict()
    fields.update(start_char=-1 if chunk.start_char is None else chunk.start_char,
                  end_char=-1 if chunk.end_char is None else chunk.end_char)
    return fields


def _chunk(row: dict) -> Chunk:
    return Chunk(
        row["source"], int(row["start_line"]), int(row["end_line"]), row["text"],
        None if row["start_char"] < 0 else int(row["start_char"]), None if row["end_char"] < 0 else int(row["end_char"]),
        bool(row["boilerplate"]),
    )


class _Client:
    """A MilvusClient whose failures become errors for people, opened on first use."""

    def __init__(self, uri: str, token: str | None):
        self.uri = uri
        self.token = token
        self._client = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        method = getattr(self.connected(), name)

        def call(*args, **kwargs):
            pymilvus = _milvus()
            try:
                return method(*args, **kwargs)
            except pymilvus.MilvusException as exc:
                raise StoreUnavailableError(f"Milvus at {self.uri} refused {name}: {exc.message}") from None

        return call

    def connected(self):
        with self._lock:
            if self._client is None:
                local = not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))
                if local:  # gRPC's core logs keepalive chatter with the embedded server to stderr
                    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
                pymilvus = _milvus()
                if local:
                    Path(self.uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
                    # Milvus Lite's embedded server lacks AllocTimestamp; pymilvus copes, the server logs a traceback.
                    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
                try:
                    self._client = pymilvus.MilvusClient(uri=self.uri, token=self.token or "")
                except pymilvus.MilvusException as exc:
                    hint = (
                        " (a Milvus Lite file is opened by one process at a time: is a `rag serve` or `rag index` "
                        "using it? Several processes share one through `milvus-lite server --data-dir DIR`, "
                        "RAG_VECTOR_STORE=http://127.0.0.1:19530)" if local else ""
                    )
                    raise StoreUnavailableError(f"cannot open Milvus at {self.uri}: {exc.message}{hint}") from None
            return self._client


class MilvusView(IndexView):
    """One generation in Milvus: searches and fetches go to the server, documents are read on use."""

    def __init__(self, client: _Client, collection: str, manifest: dict, location: str, ef_search: int):
        super().__init__()
        self.client = client
        self.collection = collection
        self.manifest = manifest
        self.location = location
        self.ef_search = ef_search
        self.documents = _Documents(client, f"{collection}_docs", manifest)

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        n = min(n, self.size)
        if n == 0:
            return []
        found = self.client.search(
            self.collection, data=[vector.astype(np.float32).tolist()], anns_field="vector", limit=n,
            filter="searchable == true", output_fields=["id"],
            search_params={"metric_type": "IP", "params": {"ef": max(self.ef_search, n)}},
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def bm25_search(self, query: str, n: int) -> list[tuple[int, float]]:
        terms = bm25_field_text(query)
        n = min(n, self.size)
        if n == 0 or not terms:
            return []
        found = self.client.search(
            self.collection, data=[terms], anns_field="sparse", limit=n, filter="searchable == true",
            output_fields=["id"], search_params={"metric_type": "BM25"},
        )
        # BM25 scores are positive; Milvus Lite reports them negated (smaller is better there).
        hits = [(int(hit["id"]), abs(float(hit["distance"]))) for hit in found[0]]
        return [(i, s) for i, s in hits if s > 0]

    def fetch(self, ids: Sequence[int]) -> tuple[list[Chunk], np.ndarray]:
        ids = [int(i) for i in ids]
        rows: dict[int, dict] = {}
        for start in range(0, len(ids), _BATCH_ROWS):
            for row in self.client.get(self.collection, ids=ids[start : start + _BATCH_ROWS], output_fields=[*_CHUNK_FIELDS, "vector"]):
                rows[int(row["id"])] = row
        missing = [i for i in ids if i not in rows]
        if missing:
            raise IndexCorruptError(self.location, f"chunks {missing[:5]} are missing from {self.collection}")
        chunks = [_chunk(rows[i]) for i in ids]
        vectors = np.asarray([rows[i]["vector"] for i in ids], dtype=np.float32).reshape(len(ids), int(self.manifest["dim"]))
        return chunks, vectors

    def prefetch_documents(self, sources: set[str]) -> None:
        self.documents.prefetch(sources)

    def chunks_of(self, source: str) -> tuple[list[Chunk], np.ndarray]:
        first, count = self.manifest["files"][source]["chunks"]
        return self.fetch(range(first, first + count))

    def _load_frequencies(self) -> DocumentFrequencies:
        pieces = self.manifest["store"]["frequency_pieces"]
        stored = json.loads(_read_many(self.client, f"{self.collection}_docs", [("frequencies", pieces)])[0])
        return DocumentFrequencies.from_dict(stored)


class _Documents(Mapping[str, DocumentRecord]):
    """The generation's documents by source, read from Milvus when first asked for, the most recent kept."""

    def __init__(self, client: _Client, collection: str, manifest: dict):
        self.client = client
        self.collection = collection
        self.files = manifest["files"]
        self._cache: OrderedDict[str, DocumentRecord] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, source: str) -> DocumentRecord:
        if source not in self.files:
            raise KeyError(source)
        self.prefetch({source})
        with self._lock:
            self._cache.move_to_end(source)
            return self._cache[source]

    def prefetch(self, sources: set[str]) -> None:
        """Read the documents among `sources` not yet held in one request (a search's passages
        come from dozens of documents: one round trip each was most of a search's time)."""
        with self._lock:
            wanted = [s for s in sources if s in self.files and s not in self._cache][:_DOCUMENT_CACHE]
        if not wanted:
            return
        names = [(source, f"doc{self.files[source]['doc']}", self.files[source]["pieces"]) for source in wanted]
        texts = _read_many(self.client, self.collection, [(name, count) for _, name, count in names])
        with self._lock:
            for (source, name, _), text in zip(names, texts):
                self._cache[source] = DocumentRecord(**json.loads(text))
            while len(self._cache) > _DOCUMENT_CACHE:
                self._cache.popitem(last=False)

    def __contains__(self, source: object) -> bool:
        return source in self.files

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _read_many(client: _Client, collection: str, wanted: list[tuple[str, int]]) -> list[str]:
    """The texts stored as `count` pieces under each `name`, read in as few requests as fit."""
    keys = [f"{name}:{i}" for name, count in wanted for i in range(count)]
    rows = {}
    for start in range(0, len(keys), _BATCH_ROWS):
        rows.update({row["key"]: row["data"] for row in client.get(collection, ids=keys[start : start + _BATCH_ROWS], output_fields=["data"])})
    texts = []
    for name, count in wanted:
        pieces = [rows.get(f"{name}:{i}") for i in range(count)]
        if any(piece is None for piece in pieces):
            raise IndexCorruptError(collection, f"{name} has {sum(p is not None for p in pieces)} of its {count} pieces")
        texts.append("".join(pieces))
    return texts


class MilvusStore(Store):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.alias = settings.milvus_collection
        self.client = _Client(settings.vector_store, settings.milvus_token)
        self.location = f"Milvus {settings.vector_store} (alias {self.alias})"

    # Reading -----------------------------------------------------------------------------------
    def _live_collection(self) -> str | None:
        if self.alias not in self.client.list_aliases().get("aliases", []):
            return None
        return self.client.describe_alias(self.alias)["collection_name"]

    def stamp(self) -> Hashable | None:
        return self._live_collection()

    def load(self) -> MilvusView:
        collection = self._live_collection()
        if collection is None:
            raise IndexNotFoundError(self.location, f"RAG_VECTOR_STORE={self.settings.vector_store} rag index PATH")
        for name in (collection, f"{collection}_docs"):  # a restarted server holds collections released
            self.client.load_collection(name)
        manifest = self._manifest(collection)
        if manifest.get("format_version") not in READABLE_FORMATS:
            raise IndexIncompatibleError(
                f"the index in {self.location} has format version {manifest.get('format_version')!r}, this version "
                f"reads {' and '.join(map(str, READABLE_FORMATS))}: rebuild it with `rag index`"
            )
        return MilvusView(self.client, collection, manifest, self.location, self.settings.hnsw_ef_search)

    def _manifest(self, collection: str) -> dict:
        rows = self.client.query(f"{collection}_docs", filter='kind == "manifest"', output_fields=["key", "data"])
        pieces = sorted(rows, key=lambda row: int(row["key"].rpartition(":")[2]))
        try:
            manifest = json.loads("".join(row["data"] for row in pieces))
        except ValueError as exc:
            raise IndexCorruptError(self.location, f"manifest unreadable: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("generation") != collection:
            raise IndexCorruptError(self.location, "manifest does not describe the live generation")
        return manifest

    # Writing -----------------------------------------------------------------------------------
    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """A lock collection: Milvus has no locks, and builds may run on different machines."""
        name = f"{self.alias}_build_lock"
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(), "token": uuid.uuid4().hex}
        if self.client.has_collection(name):
            held = self._lock_holder(name)
            if held is not None and not self._stale(held):
                raise IndexWriteError(
                    f"another `rag index` ({held.get('host')}, pid {held.get('pid')}) is building into {self.location}; "
                    "wait for it to finish"
                )
            log.warning("taking over a build lock left by a build that stopped: %s", held)
            self.client.drop_collection(name)
        self._create_pieces_collection(name)
        self.client.insert(name, [{"key": "holder", "kind": "lock", "data": json.dumps(holder), "unused": [0.0, 0.0]}])
        try:
            yield
        finally:
            held = self._lock_holder(name)
            if held is not None and held.get("token") == holder["token"]:
                self.client.drop_collection(name)

    def _lock_holder(self, name: str) -> dict | None:
        try:
            rows = self.client.get(name, ids=["holder"], output_fields=["data"])
        except StoreUnavailableError:
            return None
        return json.loads(rows[0]["data"]) if rows else None

    @staticmethod
    def _stale(held: dict) -> bool:
        if time.time() - held.get("since", 0) > _LOCK_STALE_S:
            return True
        if held.get("host") == socket.gethostname():
            try:
                os.kill(int(held.get("pid", 0)), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError):
                return False
        return False

    def write(self, manifest: dict, chunks: list[Chunk], documents: list[DocumentRecord], vectors: np.ndarray) -> None:
        collection = f"{self.alias}_g{time.time_ns():020d}_{uuid.uuid4().hex[:6]}"
        try:
            self._write(collection, manifest, chunks, documents, vectors)
            if self.alias in self.client.list_aliases().get("aliases", []):
                self.client.alter_alias(collection, self.alias)
            else:
                self.client.create_alias(collection, self.alias)
        except RagError as exc:
            self._drop(collection)
            raise IndexWriteError(f"could not write the index to {self.location} ({exc.message}); the previous index, if any, is unchanged") from None
        self.remove_stale()

    def _write(self, collection: str, manifest: dict, chunks: list[Chunk], documents: list[DocumentRecord], vectors: np.ndarray) -> None:
        pymilvus = _milvus()
        dim = int(manifest["dim"])
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("source", pymilvus.DataType.VARCHAR, max_length=4_096)
        schema.add_field("start_line", pymilvus.DataType.INT64)
        schema.add_field("end_line", pymilvus.DataType.INT64)
        schema.add_field("start_char", pymilvus.DataType.INT64)  # -1: the chunk is whole lines
        schema.add_field("end_char", pymilvus.DataType.INT64)
        schema.add_field("text", pymilvus.DataType.VARCHAR, max_length=65_535)
        schema.add_field("boilerplate", pymilvus.DataType.BOOL)
        schema.add_field("searchable", pymilvus.DataType.BOOL)
        schema.add_field("terms", pymilvus.DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", pymilvus.DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(pymilvus.Function(
            name="bm25", function_type=pymilvus.FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"],
        ))
        index = self.client.prepare_index_params()
        if self.index_type(len(chunks), self.settings.approximate_index_threshold) == "HNSW":
            index.add_index("vector", index_type="HNSW", metric_type="IP",
                            params={"M": self.settings.hnsw_m, "efConstruction": max(40, self.settings.hnsw_m * 2)})
        else:
            index.add_index("vector", index_type="FLAT", metric_type="IP")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=_BM25)
        self.client.create_collection(collection, schema=schema, index_params=index)

        by_source = {d.source: d for d in documents}
        searchable = searchable_mask(chunks)
        files = manifest["files"]
        for i, chunk in enumerate(chunks):
            entry = files[chunk.source].setdefault("chunks", [i, 0])
            entry[1] += 1
        for start in range(0, len(chunks), _BATCH_ROWS):
            rows = []
            for i in range(start, min(start + _BATCH_ROWS, len(chunks))):
                chunk, record = chunks[i], by_source[chunks[i].source]
                rows.append({
                    "id": i, "vector": vectors[i].tolist(), **_chunk_fields(chunk), "searchable": bool(searchable[i]),
                    "terms": bm25_field_text(embedding_text(chunk, record.title, record.wrapped)),
                })
            self.client.insert(collection, rows)

        docs = f"{collection}_docs"
        self._create_pieces_collection(docs)
        pending: list[dict] = []

        def add(name: str, kind: str, text: str) -> int:
            pieces = _pieces(text)
            pending.extend({"key": f"{name}:{n}", "kind": kind, "data": piece, "unused": [0.0, 0.0]} for n, piece in enumerate(pieces))
            if len(pending) >= _BATCH_ROWS:
                self.client.insert(docs, pending)
                pending.clear()
            return len(pieces)

        for n, record in enumerate(documents):
            files[record.source].update(doc=n, pieces=add(f"doc{n}", "document", json.dumps(record.to_dict(), ensure_ascii=False)))
        frequencies = frequencies_of(documents)
        frequency_pieces = add("frequencies", "frequencies", json.dumps(frequencies.to_dict()))
        if pending:
            self.client.insert(docs, pending)
            pending.clear()
        self.client.flush(collection)
        self.client.flush(docs)
        # The manifest last: a generation without one was never finished.
        manifest = {**manifest, "format_version": FORMAT_VERSION, "generation": collection,
                    "store": {"kind": "milvus", "frequency_pieces": frequency_pieces}}
        add("manifest", "manifest", json.dumps(manifest))
        self.client.insert(docs, pending)
        self.client.flush(docs)
        self.client.load_collection(collection)
        self.client.load_collection(docs)

    def _create_pieces_collection(self, name: str) -> None:
        """A collection of text pieces by key (Milvus asks every collection for a vector field)."""
        pymilvus = _milvus()
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("key", pymilvus.DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("kind", pymilvus.DataType.VARCHAR, max_length=32)
        schema.add_field("data", pymilvus.DataType.VARCHAR, max_length=65_535)
        schema.add_field("unused", pymilvus.DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="L2")
        self.client.create_collection(name, schema=schema, index_params=index)

    def _drop(self, collection: str) -> None:
        for name in (collection, f"{collection}_docs"):
            try:
                if self.client.has_collection(name):
                    self.client.drop_collection(name)
            except RagError:
                log.warning("could not drop the unfinished collection %s", name)

    def remove_stale(self) -> None:
        live = self._live_collection()
        prefix = f"{self.alias}_g"
        generations = sorted(
            name for name in self.client.list_collections() if name.startswith(prefix) and not name.endswith("_docs")
        )
        older = [name for name in generations if live is None or name < live]
        keep = {live} | set(older[-(KEEP_GENERATIONS - 1):])
        for name in generations:
            if name not in keep:
                self._drop(name)
        for name in self.client.list_collections():  # docs left by a build that died before its chunks were dropped
            if name.startswith(prefix) and name.endswith("_docs") and name[: -len("_docs")] not in keep:
                self._drop(name[: -len("_docs")])
