"""Embedding on Ray Data gives the in-process vectors, in order (a real local Ray and model)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ray = pytest.importorskip("ray")

from rag.embedder import Embedder  # noqa: E402
from rag.errors import ConfigError, IndexWriteError  # noqa: E402
from rag.ray_embedding import _as_rag_error, _check_reachable, embed_on_ray, ensure_ray  # noqa: E402
from rag.settings import load_settings  # noqa: E402

WORDS = ("river bank loan interest flood plain court appeal judge season team coach goal "
         "protein cell membrane voltage engine torque the of and in to").split()


def varied_texts(n: int) -> list[str]:
    """Lengths from one word to past the model's 256-token window, shuffled, so that
    batches (sorted by length inside sentence-transformers) pad differently on each side;
    mostly short, to keep the test quick on two cores."""
    rng = np.random.default_rng(7)
    texts = []
    for i in range(n):
        length = int(rng.choice([1, 3, 8, 20, 40, 80, 300], p=[0.2, 0.2, 0.2, 0.15, 0.1, 0.1, 0.05]))
        texts.append(f"{i}: " + " ".join(rng.choice(WORDS, size=length)))
    texts[5] = texts[17]  # a duplicate must get its own row, not a lost one
    return texts


@pytest.fixture(scope="module")
def settings():
    return load_settings()


@pytest.fixture(scope="module")
def local_ray():
    started = ensure_ray()
    yield
    if started:
        ray.shutdown()


def test_vectors_match_in_process_path_in_order(settings, local_ray):
    texts = varied_texts(300)
    vectors = embed_on_ray(texts, settings)
    embedder = Embedder(settings.embedding_model, settings.embedding_batch_size, cache_dir=settings.model_cache_dir)
    expected = embedder.encode(texts)
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    assert vectors.shape == expected.shape == (300, expected.shape[1])
    assert float(np.abs(vectors - expected).max()) < 1e-5


def test_empty_input_needs_no_ray(settings):
    vectors = embed_on_ray([], settings)
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_unreachable_cluster_fails_fast_with_a_config_error():
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        _check_reachable("127.0.0.1:9")  # ray.init itself would retry for minutes


def test_actor_errors_become_one_line():
    init_failure = RuntimeError(
        "The actor died because of an error raised in its creation task, \x1b[36mray::MapWorker()\x1b[39m\n"
        '  File "x.py", line 1, in __init__\nsafetensors.SafetensorError: header too large'
    )
    error = _as_rag_error(init_failure)
    assert isinstance(error, IndexWriteError)
    assert str(error) == "embedding on Ray failed: SafetensorError: header too large"
    raised_in_actor = RuntimeError("ray::X.submit()\nrag.errors.ConfigError: model went away\n"
                                   "ray.exceptions.UserCodeException: UDF failed")
    error = _as_rag_error(raised_in_actor)
    assert type(error) is ConfigError and str(error) == "model went away"


def test_rag_index_engine_ray_builds_the_same_index(local_ray, tmp_path):
    """`rag index PATH --engine ray`: the chunks, line ranges and manifest of the in-process build,
    and its vectors within 1e-5, in either store."""
    from rag.cli import main
    from rag.settings import PROJECT_ROOT
    from rag.stores import open_store

    seeds = str(PROJECT_ROOT / "seeds")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["index", seeds, "--index-dir", str(local), "--no-progress"]) == 0
    assert main(["index", seeds, "--index-dir", str(on_ray), "--no-progress", "--engine", "ray",
                 "--store", str(tmp_path / "ray.db")]) == 0
    built = [open_store(load_settings(index_dir=local)).load(),
             open_store(load_settings(index_dir=on_ray, vector_store=str(tmp_path / "ray.db"))).load()]
    (chunks, vectors), (ray_chunks, ray_vectors) = (view.fetch(range(view.size)) for view in built)
    assert [c.to_dict() for c in ray_chunks] == [c.to_dict() for c in chunks]
    assert float(np.abs(ray_vectors - vectors).max()) < 1e-5
    same = ("embedding_model", "dim", "chunking", "chunk_count", "corpus", "index_type")
    assert {k: built[1].manifest[k] for k in same} == {k: built[0].manifest[k] for k in same}
    assert {s: f["sha256"] for s, f in built[1].manifest["files"].items()} == {s: f["sha256"] for s, f in built[0].manifest["files"].items()}
