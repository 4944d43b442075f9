"""The index on disk: build and load, incremental rebuilds, crashes, corruption and write failures."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rag.stores.faiss as store
from embedding_fakes import HashingEmbedder
from rag.errors import (
    CorpusError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexWriteError,
)
from rag.chunker import document_title, embedding_text
from rag.indexer import Indexer
from rag.retriever import Retriever
from rag.service import RagService
from rag.settings import PROJECT_ROOT
from rag.stores import open_store
from rag.stores.faiss import load_snapshot, read_manifest

TESTS_DIR = Path(__file__).resolve().parent
SEEDS = PROJECT_ROOT / "seeds"

CORPUS = {
    "alpha.txt": "Alpha report\n\nThe aardvark population grew in the northern valley.\nIt rained a lot.\n",
    "beta.md": "# Beta notes\n\nBasalt columns formed from cooling lava flows.\n",
    "sub/gamma.txt": "Gamma log\r\nThe gyroscope drifted during calibration.\r\nEngineers replaced it.\r\n",
}


def build(settings, embedder, *paths):
    return Indexer(settings, embedder).build(list(paths), progress=False)


def staging_dirs(index_dir: Path) -> list[Path]:
    return [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]


def load(settings):
    """The live generation of the store the settings name."""
    return open_store(settings).load()


def everything(view):
    """All chunks and vectors of a generation, from any store."""
    return view.fetch(range(view.size))


def assert_vectors_match_chunks(snapshot, embedder) -> None:
    """Each stored vector is the embedding of its own chunk (no misalignment after reuse)."""
    chunks, vectors = everything(snapshot)
    expected = embedder.encode([embedding_text(c, snapshot.documents[c.source].title) for c in chunks])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def assert_chunks_true_to_documents(snapshot) -> None:
    for chunk in everything(snapshot)[0]:
        lines = snapshot.documents[chunk.source].lines
        if chunk.start_char is None:
            assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        else:
            assert chunk.text == lines[chunk.start_line - 1][chunk.start_char : chunk.end_char]


# (a) build and load --------------------------------------------------------------------------------
def test_build_and_load_counts_agree(any_settings, fake_embedder, corpus_factory):
    settings = any_settings
    corpus = corpus_factory(CORPUS)
    stats = build(settings, fake_embedder, corpus)
    snapshot = load(settings)
    assert stats.files == 3 == len(snapshot.documents)
    chunks, vectors = everything(snapshot)
    assert stats.chunks == len(chunks) == vectors.shape[0] == snapshot.size
    assert snapshot.manifest["chunk_count"] == stats.chunks
    assert stats.embedded_chunks == stats.chunks
    assert snapshot.embedding_model == "hashing-test"
    assert vectors.shape[1] == fake_embedder.dim == snapshot.manifest["dim"]
    assert vectors.dtype == np.float32
    assert set(snapshot.documents) == {"alpha.txt", "beta.md", "sub/gamma.txt"}
    assert snapshot.documents["sub/gamma.txt"].lines == [
        "Gamma log",
        "The gyroscope drifted during calibration.",
        "Engineers replaced it.",
    ]
    assert snapshot.documents["alpha.txt"].title == "Alpha report"
    assert_chunks_true_to_documents(snapshot)
    assert_vectors_match_chunks(snapshot, fake_embedder)
    assert "indexed 3 files" in stats.summary()


def test_load_without_index(any_settings):
    settings = any_settings
    with pytest.raises(IndexNotFoundError, match="rag index"):
        load(settings)


def test_empty_corpus_is_an_error(any_settings, fake_embedder, corpus_factory):
    settings = any_settings
    corpus = corpus_factory({"empty.txt": "", "image.txt": b"\x00\x01\x02", "notes.pdf": "x"})
    with pytest.raises(CorpusError):
        build(settings, fake_embedder, corpus)
    with pytest.raises(CorpusError, match="does not exist"):
        build(settings, fake_embedder, corpus / "missing")


def test_skipped_files_counted(any_settings, fake_embedder, corpus_factory):
    settings = any_settings
    corpus = corpus_factory({**CORPUS, "empty.txt": "", "binary.txt": b"\x00\xff\x00"})
    stats = build(settings, fake_embedder, corpus)
    assert stats.files == 3 and stats.skipped_files == 2


def test_several_roots_keep_sources_unique(any_settings, fake_embedder, tmp_path):
    settings = any_settings
    from conftest import write_corpus

    one = write_corpus(tmp_path / "one", {"same.txt": "first copy of words\n"})
    two = write_corpus(tmp_path / "two", {"same.txt": "second copy of words\n"})
    build(settings, fake_embedder, one, two)
    assert set(load(settings).documents) == {"one/same.txt", "two/same.txt"}


# (b) incremental builds ------------------------------------------------------------------------------
def test_incremental_rebuilds(any_settings, fake_embedder, corpus_factory):
    settings = any_settings
    corpus = corpus_factory(CORPUS)
    first = build(settings, fake_embedder, corpus)
    before = load(settings)

    fake_embedder.reset_counts()
    again = build(settings, fake_embedder, corpus)
    assert again.embedded_chunks == 0
    assert fake_embedder.encoded_texts == []
    assert again.reused_files == 3 and again.changed_files == []
    same = load(settings)
    assert [c.to_dict() for c in everything(same)[0]] == [c.to_dict() for c in everything(before)[0]]
    np.testing.assert_array_equal(everything(same)[1], everything(before)[1])
    assert again.chunks == first.chunks

    # Edit one file: only its chunks are embedded again.
    (corpus / "beta.md").write_text("# Beta notes\n\nBasalt columns and obsidian glass.\nA new line.\n")
    fake_embedder.reset_counts()
    edited = build(settings, fake_embedder, corpus)
    snapshot = load(settings)
    beta_chunks = [c for c in everything(snapshot)[0] if c.source == "beta.md"]
    assert edited.changed_files == ["beta.md"] and edited.reused_files == 2
    assert edited.embedded_chunks == len(beta_chunks) == len(fake_embedder.encoded_texts) > 0
    title = snapshot.documents["beta.md"].title
    assert sorted(fake_embedder.encoded_texts) == sorted(embedding_text(c, title) for c in beta_chunks)
    assert "obsidian" in " ".join(c.text for c in beta_chunks)
    assert_chunks_true_to_documents(snapshot)
    assert_vectors_match_chunks(snapshot, fake_embedder)

    # Delete a file: it leaves the documents, the chunks and the results.
    (corpus / "alpha.txt").unlink()
    fake_embedder.reset_counts()
    removed = build(settings, fake_embedder, corpus)
    snapshot = load(settings)
    assert removed.removed_files == ["alpha.txt"] and removed.embedded_chunks == 0
    assert "alpha.txt" not in snapshot.documents
    assert all(c.source != "alpha.txt" for c in everything(snapshot)[0])
    retriever = Retriever(snapshot, fake_embedder, settings)
    for mode in ("hybrid", "bm25", "dense"):
        assert all(p.source != "alpha.txt" for p in retriever.search("aardvark population", k=5, mode=mode))
    assert_vectors_match_chunks(snapshot, fake_embedder)

    # Add a file: only it is embedded.
    (corpus / "sub" / "delta.txt").write_text("Delta memo\nDolphins were seen near the harbour.\n")
    fake_embedder.reset_counts()
    added = build(settings, fake_embedder, corpus)
    snapshot = load(settings)
    delta_chunks = [c for c in everything(snapshot)[0] if c.source == "sub/delta.txt"]
    assert added.changed_files == ["sub/delta.txt"]
    assert added.embedded_chunks == len(delta_chunks) == len(fake_embedder.encoded_texts) > 0
    assert all("Dolphins" in t or "Delta" in t for t in fake_embedder.encoded_texts)
    assert_vectors_match_chunks(snapshot, fake_embedder)
    hits = Retriever(snapshot, fake_embedder, settings).search("dolphins harbour", k=3)
    assert hits[0].source == "sub/delta.txt"


def test_other_model_or_chunking_reembeds_everything(any_settings, fake_embedder, corpus_factory):
    settings = any_settings
    corpus = corpus_factory(CORPUS)
    first = build(settings, fake_embedder, corpus)
    other = HashingEmbedder(name="hashing-other")
    stats = build(settings, other, corpus)
    assert stats.embedded_chunks == first.chunks and stats.reused_files == 0
    assert load(settings).embedding_model == "hashing-other"
    rechunked = settings.model_copy(update={"chunk_tokens": 16})
    stats = build(rechunked, other, corpus)
    assert stats.reused_files == 0 and stats.embedded_chunks == stats.chunks


def test_second_build_while_one_runs_is_refused(settings, fake_embedder, corpus_factory):
    corpus = corpus_factory(CORPUS)
    settings.index_dir.mkdir(parents=True)
    with open(settings.index_dir / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexWriteError, match="another `rag index`"):
            build(settings, fake_embedder, corpus)
        fcntl.flock(handle, fcntl.LOCK_UN)
    build(settings, fake_embedder, corpus)
    load_snapshot(settings.index_dir)


# (c) a build killed part-way leaves the previous index in place --------------------------------------
_STALLING_BUILD = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import rag.stores.faiss as store
from embedding_fakes import HashingEmbedder
from rag.indexer import Indexer
from rag.settings import Settings

corpus, index_dir, marker, stall_on = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
real_write = store._write_file

def stalling_write(path, data):
    real_write(path, data)
    if path.name.startswith(stall_on):
        marker.write_text(str(path))
        time.sleep(300)

store._write_file = stalling_write
Indexer(Settings(index_dir=index_dir), HashingEmbedder()).build([corpus], progress=False)
"""


def _wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("stall_on", ["chunks.jsonl", "manifest.json", ".CURRENT"])
def test_killed_while_writing_keeps_previous_index(settings, fake_embedder, corpus_factory, tmp_path, stall_on):
    """SIGKILL a build stalled inside write_generation: readers still get the old generation."""
    old = corpus_factory(CORPUS, name="old")
    build(settings, fake_embedder, old)
    live = read_manifest(settings.index_dir)["generation"]
    new = corpus_factory({"zebra.txt": "Zebras graze on the open savanna.\n"}, name="new")
    marker = tmp_path / "stalled"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLING_BUILD, str(TESTS_DIR), str(new), str(settings.index_dir), str(marker), stall_on],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        reached = _wait_for(marker.exists, 120, proc)
        assert reached, proc.communicate(timeout=5)[1].decode()[-2000:] if proc.poll() is not None else "build never stalled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    if stall_on != ".CURRENT":
        assert staging_dirs(settings.index_dir), "the killed build left its staging folder"
    assert read_manifest(settings.index_dir)["generation"] == live
    snapshot = load_snapshot(settings.index_dir)
    assert set(snapshot.documents) == set(load_snapshot(settings.index_dir).documents) == {"alpha.txt", "beta.md", "sub/gamma.txt"}
    hits = Retriever(snapshot, fake_embedder, settings).search("gyroscope calibration", k=3)
    assert hits and hits[0].source == "sub/gamma.txt"

    # The next build takes the lock (the dead process's lock is gone), succeeds and cleans up.
    stats = build(settings, fake_embedder, new)
    assert stats.files == 1
    assert staging_dirs(settings.index_dir) == []
    assert not list(settings.index_dir.glob(".CURRENT.*"))
    assert set(load_snapshot(settings.index_dir).documents) == {"zebra.txt"}


def _big_corpus(root: Path, files: int = 1500, words: int = 150) -> Path:
    rng = np.random.default_rng(7)
    vocabulary = np.array(
        "market revenue quarter growth cloud data model river mountain forest engine battery harbour "
        "policy research budget school garden music theatre bridge railway weather harvest museum".split()
    )
    root.mkdir(parents=True)
    for i in range(files):
        text = " ".join(rng.choice(vocabulary, size=words))
        (root / f"doc_{i:05d}.txt").write_text(f"Document {i}\n{text}\n")
    return root


@pytest.mark.integration
def test_sigkill_during_real_cli_build_keeps_previous_index(tmp_path, real_embedder):
    from rag.settings import Settings

    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir)
    service = RagService(settings, embedder=real_embedder)
    original = service.index([SEEDS], progress=False)
    live = read_manifest(index_dir)["generation"]
    big = _big_corpus(tmp_path / "big")

    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", str(big), "--index-dir", str(index_dir), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    try:
        # Let it get past imports and into reading/embedding (embedding 1500 chunks takes far longer),
        # or stop it as soon as it starts writing a generation.
        _wait_for(lambda: bool(staging_dirs(index_dir)), 8, proc)
        assert proc.poll() is None, "the big build finished before it could be killed: make the corpus bigger"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    assert read_manifest(index_dir)["generation"] == live
    snapshot = load_snapshot(index_dir)
    assert set(snapshot.documents) == {p.name for p in SEEDS.glob("*.txt")}
    passages = RagService(settings, embedder=real_embedder).search("Alibaba net income fourth quarter", k=5)
    assert passages and all(p.source in snapshot.documents for p in passages)

    again = service.index([SEEDS], progress=False)
    assert again.embedded_chunks == 0 and again.chunks == original.chunks
    assert staging_dirs(index_dir) == []
    load_snapshot(index_dir)


# (d) corrupt or incompatible indexes ----------------------------------------------------------------
@pytest.fixture
def built(settings, fake_embedder, corpus_factory):
    build(settings, fake_embedder, corpus_factory(CORPUS))
    return settings.index_dir / read_manifest(settings.index_dir)["generation"]


@pytest.mark.parametrize("artifact", ["dense.faiss", "chunks.jsonl", "documents.jsonl"])
def test_truncated_artifact_is_corrupt(settings, built, artifact):
    path = built / artifact
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="rag index"):
        load_snapshot(settings.index_dir)


@pytest.mark.parametrize("artifact", ["dense.faiss", "chunks.jsonl"])
def test_garbled_artifact_same_size_is_corrupt(settings, built, artifact):
    path = built / artifact
    size = path.stat().st_size
    path.write_bytes(b"\xff" * size)
    with pytest.raises(IndexCorruptError, match="rag index"):
        load_snapshot(settings.index_dir)


def test_missing_artifact_or_generation_is_corrupt(settings, built):
    (built / "dense.faiss").unlink()
    with pytest.raises(IndexCorruptError, match="dense.faiss"):
        load_snapshot(settings.index_dir)
    shutil.rmtree(built)
    with pytest.raises(IndexCorruptError, match="rag index"):
        load_snapshot(settings.index_dir)


def test_corrupt_index_is_rebuilt_from_scratch(settings, fake_embedder, built, corpus_factory):
    (built / "chunks.jsonl").write_bytes(b"{")
    stats = build(settings, fake_embedder, corpus_factory(CORPUS))
    assert stats.embedded_chunks == stats.chunks > 0
    load_snapshot(settings.index_dir)


def test_wrong_format_version_is_incompatible(settings, built):
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = store.FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match="rag index"):
        load_snapshot(settings.index_dir)


def test_other_embedding_model_is_incompatible(settings, built):
    snapshot = load_snapshot(settings.index_dir)
    with pytest.raises(IndexIncompatibleError, match="rebuild") as info:
        Retriever(snapshot, HashingEmbedder(name="another-model"), settings)
    assert "hashing-test" in str(info.value) and "another-model" in str(info.value)


# (e) write failures leave the previous index in place ------------------------------------------------
@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_disk_full_during_write(settings, fake_embedder, built, corpus_factory, monkeypatch, fail_at):
    before = load_snapshot(settings.index_dir)
    real_write = store._write_file
    calls = {"n": 0}

    def failing_write(path, data):
        calls["n"] += 1
        if calls["n"] == fail_at:
            with open(path, "wb") as handle:  # a partial file, as a full disk leaves it
                handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(store, "_write_file", failing_write)
    new_corpus = corpus_factory({"zebra.txt": "Zebras graze on the open savanna.\n"})
    with pytest.raises(IndexWriteError, match="No space left on device") as info:
        build(settings, fake_embedder, new_corpus)
    assert "previous index" in str(info.value)
    assert calls["n"] == fail_at
    monkeypatch.setattr(store, "_write_file", real_write)

    after = load_snapshot(settings.index_dir)
    assert after.manifest["generation"] == before.manifest["generation"]
    assert set(after.documents) == {"alpha.txt", "beta.md", "sub/gamma.txt"}
    assert staging_dirs(settings.index_dir) == []
    # A later build works.
    build(settings, fake_embedder, new_corpus)
    assert set(load_snapshot(settings.index_dir).documents) == {"zebra.txt"}


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_index_dir(settings, fake_embedder, built, corpus_factory):
    before = load_snapshot(settings.index_dir)
    settings.index_dir.chmod(0o555)
    try:
        with pytest.raises(IndexWriteError, match="ermission"):
            build(settings, fake_embedder, corpus_factory({"zebra.txt": "Zebras graze.\n"}))
    finally:
        settings.index_dir.chmod(0o755)
    after = load_snapshot(settings.index_dir)
    assert after.manifest["generation"] == before.manifest["generation"]
    assert set(after.documents) == set(before.documents)


# (f) approximate index for large corpora ----------------------------------------------------------
def test_hnsw_above_threshold(settings, fake_embedder, corpus_factory):
    import faiss

    topics = [f"topic{i} " + " ".join(f"w{i}x{j}" for j in range(6)) for i in range(30)]
    corpus = corpus_factory({f"f{i:02d}.txt": f"{t}\n" for i, t in enumerate(topics)})
    approx = settings.model_copy(update={"approximate_index_threshold": 20})
    stats = build(approx, fake_embedder, corpus)
    assert stats.chunks == 30 and stats.index_type == "HNSW"
    snapshot = load_snapshot(approx.index_dir)
    assert snapshot.manifest["index_type"] == "HNSW"
    assert isinstance(faiss.downcast_index(snapshot.dense), faiss.IndexHNSWFlat)
    retriever = Retriever(snapshot, fake_embedder, approx)
    for i in (0, 13, 29):
        hits = retriever.search(topics[i], k=3, mode="dense")
        assert any(h.source == f"f{i:02d}.txt" for h in hits)

    exact = settings.model_copy(update={"approximate_index_threshold": 31})
    assert build(exact, fake_embedder, corpus).index_type == "exact"
    assert isinstance(faiss.downcast_index(load_snapshot(exact.index_dir).dense), faiss.IndexFlatIP)


def test_document_title():
    assert document_title(["", "  Short title  ", "body"]) == "Short title"
    assert document_title(["word " * 40]) is None
    assert document_title(["", ""]) is None


# (e) the vectors live in the FAISS file only ------------------------------------------------------
def test_vectors_are_stored_once_in_the_faiss_file(settings, fake_embedder, built):
    assert not (built / "vectors.npy").exists()
    snapshot = load_snapshot(settings.index_dir)
    titles = {s: d.title for s, d in snapshot.documents.items()}
    expected = fake_embedder.encode([embedding_text(c, titles.get(c.source)) for c in snapshot.chunks])
    np.testing.assert_allclose(snapshot.vectors, expected, atol=1e-6)
    assert not snapshot.vectors.flags.writeable  # a view of the index's own memory


def test_hnsw_index_vectors_are_read_from_its_storage(settings, fake_embedder, corpus_factory):
    settings = settings.model_copy(update={"approximate_index_threshold": 1})
    build(settings, fake_embedder, corpus_factory(CORPUS))
    snapshot = load_snapshot(settings.index_dir)
    assert snapshot.manifest["index_type"] == "HNSW"
    titles = {s: d.title for s, d in snapshot.documents.items()}
    expected = fake_embedder.encode([embedding_text(c, titles.get(c.source)) for c in snapshot.chunks])
    np.testing.assert_allclose(snapshot.vectors, expected, atol=1e-6)


def test_a_format_1_generation_with_vectors_npy_still_loads(settings, built):
    snapshot = load_snapshot(settings.index_dir)
    np.save(built / "vectors.npy", np.asarray(snapshot.vectors))
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 1
    manifest["artifacts"]["vectors.npy"] = (built / "vectors.npy").stat().st_size
    manifest_path.write_text(json.dumps(manifest))
    assert load_snapshot(settings.index_dir).size == snapshot.size
