"""What only the Milvus store has to get right: its build lock, a build that fails part-way, old
generations dropped, documents longer than a Milvus text field, and the extra it needs.
(Everything both stores share runs over both in test_index_store.py, test_retriever.py, test_api.py.)"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import pytest

from conftest import over_store
from embedding_fakes import HashingEmbedder
from rag.errors import ConfigError, IndexIncompatibleError, IndexNotFoundError, IndexWriteError, StoreUnavailableError
from rag.indexer import Indexer
from rag.retriever import Retriever
from rag.stores import open_store
from rag.stores.milvus import MilvusStore, _pieces, bm25_field_text

pytest.importorskip("milvus_lite")

CORPUS = {
    "alpha.txt": "Alpha report\nThe aardvark population grew by 48.9 percent.\n",
    "beta.txt": "Beta notes\nBasalt columns formed from cooling lava.\n",
}


@pytest.fixture
def milvus_settings(settings, tmp_path):
    return over_store(settings, "milvus", tmp_path)


def _generations(store: MilvusStore) -> list[str]:
    return sorted(n for n in store.client.list_collections() if n.startswith(f"{store.alias}_g"))


def test_a_build_holding_the_lock_refuses_another(milvus_settings, fake_embedder, corpus_factory):
    corpus = corpus_factory(CORPUS)
    store = open_store(milvus_settings)
    with store.build_lock():  # this live process holds it
        with pytest.raises(IndexWriteError, match="another `rag index`.*wait for it"):
            Indexer(milvus_settings, fake_embedder).build([corpus], store)
    Indexer(milvus_settings, fake_embedder).build([corpus], store)  # released: builds


def test_a_lock_left_by_a_build_that_died_is_taken_over(milvus_settings, fake_embedder, corpus_factory, caplog):
    corpus = corpus_factory(CORPUS)
    store = open_store(milvus_settings)
    child = os.fork()
    if child == 0:  # a process that exits at once: its pid names no live build afterwards
        os._exit(0)
    os.waitpid(child, 0)
    holder = json.dumps({"host": socket.gethostname(), "pid": child, "since": time.time(), "token": "killed"})
    store._create_pieces_collection(f"{store.alias}_build_lock")  # as a build killed mid-way leaves it
    store.client.insert(f"{store.alias}_build_lock", [{"key": "holder", "kind": "lock", "data": holder, "unused": [0.0, 0.0]}])
    stats = Indexer(milvus_settings, fake_embedder).build([corpus], store)
    assert stats.files == 2
    assert "taking over a build lock" in caplog.text
    assert not store.client.has_collection(f"{store.alias}_build_lock")


def test_a_build_failing_part_way_leaves_the_previous_index(milvus_settings, fake_embedder, corpus_factory, monkeypatch):
    first = corpus_factory(CORPUS)
    store = open_store(milvus_settings)
    Indexer(milvus_settings, fake_embedder).build([first], store)
    live = _generations(store)
    second = corpus_factory({**CORPUS, "gamma.txt": "Gamma log\nThe gyroscope drifted.\n"})
    client = store.client.connected()
    real_insert = client.insert

    def failing_insert(collection, rows, **kwargs):
        if collection.endswith("_docs"):  # the chunks are in, the documents never arrive
            raise __import__("pymilvus").MilvusException(message="disk quota exceeded")
        return real_insert(collection, rows, **kwargs)

    monkeypatch.setattr(client, "insert", failing_insert)
    with pytest.raises(IndexWriteError, match="disk quota exceeded.*previous index.*unchanged"):
        Indexer(milvus_settings, fake_embedder).build([second], store)
    monkeypatch.undo()
    assert _generations(store) == live, "the unfinished generation was dropped"
    view = store.load()
    assert set(view.documents) == set(CORPUS)
    hits = Retriever(view, fake_embedder, milvus_settings).search("aardvark population", k=1)
    assert hits[0].source == "alpha.txt"


def test_old_generations_are_dropped(milvus_settings, fake_embedder, corpus_factory):
    corpus = corpus_factory(CORPUS)
    store = open_store(milvus_settings)
    for n in range(4):
        (corpus / "alpha.txt").write_text(f"Alpha report {n}\nThe aardvark population grew.\n")
        Indexer(milvus_settings, fake_embedder).build([corpus], store)
    generations = _generations(store)
    assert len(generations) == 4  # two generations, each a chunks and a documents collection
    assert store.stamp() in generations and f"{store.stamp()}_docs" in generations


def test_long_documents_and_every_character_survive(milvus_settings, fake_embedder, corpus_factory):
    lines = [f"Line {i}: naïve café — 東京 {'x' * (i % 50)} ✓" for i in range(4000)]  # ~300 kB, many pieces
    corpus = corpus_factory({"long.txt": "\n".join(lines) + "\n"})
    Indexer(milvus_settings, fake_embedder).build([corpus])
    view = open_store(milvus_settings).load()
    assert view.documents["long.txt"].lines == lines
    assert view.manifest["files"]["long.txt"]["pieces"] > 4


def test_pieces_never_split_a_character():
    text = "é" * 70_000 + "東" * 30_000
    pieces = _pieces(text)
    assert "".join(pieces) == text and all(len(p.encode()) <= 60_000 for p in pieces)


def test_bm25_terms_keep_decimals_as_one_word():
    assert bm25_field_text("Shares rose 48.9% to 1,000 yuan") == "share rose 48_9 1_000 yuan"


def test_wrong_embedding_model_is_refused(milvus_settings, fake_embedder, corpus_factory):
    Indexer(milvus_settings, fake_embedder).build([corpus_factory(CORPUS)])
    with pytest.raises(IndexIncompatibleError, match="hashing-test.*rebuild"):
        Retriever(open_store(milvus_settings).load(), HashingEmbedder(name="other"), milvus_settings)


def test_no_index_yet_says_how_to_build_one(milvus_settings):
    with pytest.raises(IndexNotFoundError, match="RAG_VECTOR_STORE=.*rag index PATH"):
        open_store(milvus_settings).load()


def test_an_unreachable_server_is_a_clear_error(settings):
    unreachable = settings.model_copy(update={"vector_store": "http://127.0.0.1:9"})
    with pytest.raises(StoreUnavailableError, match="127.0.0.1:9"):
        open_store(unreachable).stamp()


def test_without_the_extra_the_error_names_it(milvus_settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus now raises ImportError
    with pytest.raises(ConfigError, match=r"`scale` extra.*rag-lines\[scale\]"):
        open_store(milvus_settings).stamp()
