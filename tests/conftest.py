"""Shared fixtures. Keep this small and generic; module-specific fixtures live in the test modules."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_TEST_CONFIG = Path(__file__).resolve().parent / "rag-test.toml"
if _TEST_CONFIG.is_file():
    os.environ.setdefault("RAG_CONFIG", str(_TEST_CONFIG))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `import embedding_fakes`

import pytest  # noqa: E402

from embedding_fakes import HashingEmbedder  # noqa: E402
from rag.settings import PROJECT_ROOT, Settings  # noqa: E402

SEEDS = PROJECT_ROOT / "seeds"


def write_corpus(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write {relative/path: text or bytes} under root (created) and return root."""
    root.mkdir(parents=True, exist_ok=True)
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return root


@pytest.fixture
def corpus_factory(tmp_path):
    """corpus_factory({"a.txt": "..."}) -> a fresh folder holding those files."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str | bytes], name: str | None = None) -> Path:
        return write_corpus(tmp_path / (name or f"corpus{next(counter)}"), files)

    return make


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings with the index in tmp_path. embedding_model stays the packaged MiniLM (it is
    only checked when a real Embedder is made), so pass a fake embedder explicitly."""
    return Settings(index_dir=tmp_path / "index", corpus=tmp_path / "corpus")


STORES = ["faiss", "milvus"]


def over_store(settings: Settings, store: str, folder: Path) -> Settings:
    """`settings` with the index in `store`: FAISS files, or Milvus Lite embedded in a file in `folder`."""
    if store == "faiss":
        return settings
    return settings.model_copy(update={"vector_store": str(folder / "milvus.db")})


@pytest.fixture(params=STORES)
def any_settings(request, settings, tmp_path) -> Settings:
    """`settings` over each index store in turn (tests of behaviour every store must share)."""
    return over_store(settings, request.param, tmp_path)


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from rag.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2")
