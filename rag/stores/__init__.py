"""Index stores: FAISS files on this machine (the default), or Milvus (`RAG_VECTOR_STORE`)."""

from __future__ import annotations

from rag.settings import Settings
from rag.stores.base import DocumentRecord, IndexView, Store

__all__ = ["DocumentRecord", "IndexView", "Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings name: `faiss` (under index_dir), or a Milvus URI."""
    if settings.vector_store == "faiss":
        from rag.stores.faiss import FaissStore

        return FaissStore(settings.index_dir, settings.approximate_index_threshold, settings.hnsw_m, settings.hnsw_ef_search)
    from rag.stores.milvus import MilvusStore

    return MilvusStore(settings)
