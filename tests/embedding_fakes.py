"""A fast, deterministic stand-in for rag.embedder.Embedder in unit tests.

    embedder = HashingEmbedder()
    vectors = embedder.encode(["net income rose", "revenue fell"])  # float32, L2-normalised

Texts become bags of lower-cased words hashed (blake2b, so stable across runs and
processes) into `dim` buckets with a hashed sign, then L2-normalised: texts that share
words have a positive inner product, texts that share none are near-orthogonal.
count_tokens counts word pieces roughly like a WordPiece tokenizer: one per run of
letters/digits and one per punctuation character. `calls` and `encoded_texts` record
every encode call so tests can check what was (re-)embedded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    def __init__(self, dim: int = 256, batch_size: int = 32, name: str = "hashing-test"):
        self.name = name
        self.dim = dim
        self.batch_size = batch_size
        self.max_tokens = 254
        self.calls = 0
        self.encoded_texts: list[str] = []

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(text)) for text in texts]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vector[value % self.dim] += 1.0 if (value >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0  # a text with no words still gets a unit vector
            return vector
        return vector / norm

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        texts = list(texts)
        self.calls += 1
        self.encoded_texts.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(np.stack([self._vector(t) for t in texts]), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def reset_counts(self) -> None:
        self.calls = 0
        self.encoded_texts = []
