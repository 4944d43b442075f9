"""Questions embedded by onnxruntime (the real model): the vectors torch gives, an export made once,
and torch whenever onnxruntime cannot be used."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import rag.onnx_query as onnx_query
from rag.embedder import Embedder

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What was Alibaba's net income in the fourth quarter?",
    "how many episodes are in season 2 of the handmaid's tale",
    "Qu'a dit le PDG d'Alibaba à propos de l'IA générale ?",
    "380 billion yuan ($52 billion) over three years",
    " ".join(["a long question that runs past the model's window of word pieces"] * 40),  # truncated
]


@pytest.fixture(scope="module")
def embedders(tmp_path_factory):
    cache = tmp_path_factory.mktemp("onnx-cache")
    onnx = Embedder("all-MiniLM-L6-v2", query_cache_size=0, cache_dir=cache)
    torch = Embedder("all-MiniLM-L6-v2", query_cache_size=0, query_backend="torch")
    return onnx, torch, cache


def test_onnx_gives_the_vectors_torch_gives(embedders):
    onnx, torch, _ = embedders
    for question in QUESTIONS:
        np.testing.assert_allclose(onnx.encode_query(question), torch.encode_query(question), atol=1e-5)
    assert onnx._query_encoder is not None and torch._query_encoder is None
    # Documents are embedded by torch in both, so an index built by either answers both.
    np.testing.assert_array_equal(onnx.encode(QUESTIONS[:2]), torch.encode(QUESTIONS[:2]))


def test_the_export_is_made_once_and_reused(embedders):
    onnx, _, cache = embedders
    onnx.encode_query("warm")
    files = list((cache / "onnx").glob("*.onnx"))
    assert len(files) == 1 and not list((cache / "onnx").glob(".*"))  # no staging file left
    modified = files[0].stat().st_mtime_ns
    again = Embedder("all-MiniLM-L6-v2", query_cache_size=0, cache_dir=cache)
    assert again._query_encoder.path == files[0]
    assert files[0].stat().st_mtime_ns == modified


def test_torch_answers_when_onnxruntime_cannot(tmp_path, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise onnx_query.UnsupportedModel("modules ['Transformer', 'Dense']")

    monkeypatch.setattr(onnx_query, "OnnxQueryEncoder", refuse)
    embedder = Embedder("all-MiniLM-L6-v2", query_cache_size=0, cache_dir=tmp_path)
    expected = Embedder("all-MiniLM-L6-v2", query_cache_size=0, query_backend="torch").encode_query(QUESTIONS[0])
    with caplog.at_level(logging.WARNING, logger="rag.embedder"):
        np.testing.assert_allclose(embedder.encode_query(QUESTIONS[0]), expected, atol=1e-6)
    assert "embedded by torch" in caplog.text and "Dense" in caplog.text
