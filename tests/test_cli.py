"""The `rag` command line, run as a user would: a separate process, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from embedding_fakes import HashingEmbedder
from rag.indexer import Indexer
from rag.settings import PROJECT_ROOT, Settings
from rag.stores.faiss import read_manifest

SEEDS = PROJECT_ROOT / "seeds"
SUMMARY = re.compile(r"^indexed (\d+) files into (\d+) chunks in [\d.]+ s \((\d+) chunks embedded, (\d+) files unchanged")


def rag(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0], "the error is the last thing printed"
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def seed_lines(source: str) -> list[str]:
    text = (SEEDS / source).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# Errors (no embedding model needed) ------------------------------------------------------------
def test_index_missing_path(tmp_path):
    result = rag("index", tmp_path / "nope", "--index-dir", tmp_path / "index", "--no-progress")
    assert_clean_error(result, "does not exist")
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_index_empty_corpus(tmp_path, corpus_factory):
    corpus = corpus_factory({"empty.txt": "", "blank.md": "  \n", "photo.jpg": "x"})
    result = rag("index", corpus, "--index-dir", tmp_path / "index", "--no-progress")
    assert_clean_error(result, "no readable")


def test_search_without_index(tmp_path):
    result = rag("search", "anything", "--index-dir", tmp_path / "no-index")
    assert_clean_error(result, "no index", "rag index")


def test_search_empty_question(tmp_path):
    result = rag("search", "   ", "--index-dir", tmp_path / "no-index")
    assert_clean_error(result, "empty")


def test_search_corrupt_index(settings, fake_embedder, corpus_factory):
    Indexer(settings, fake_embedder).build([corpus_factory({"a.txt": "alpha beta\n"})], progress=False)
    generation = settings.index_dir / read_manifest(settings.index_dir)["generation"]
    (generation / "dense.faiss").write_bytes(b"")
    result = rag("search", "alpha", "--index-dir", settings.index_dir)
    assert_clean_error(result, "rag index")


def test_search_index_from_another_model(settings, corpus_factory):
    Indexer(settings, HashingEmbedder()).build([corpus_factory({"a.txt": "alpha beta\n"})], progress=False)
    result = rag("search", "alpha", "--index-dir", settings.index_dir)
    assert_clean_error(result, "hashing-test", "rag index")


def test_bad_arguments_exit_non_zero(tmp_path):
    result = rag("search", "x", "-k", "0", "--index-dir", tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    result = rag("frobnicate")
    assert result.returncode != 0 and "Traceback" not in result.stderr


# With the real model: one index of the seeds shared by the tests below ---------------------------
@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("cli") / "index"
    result = rag("index", SEEDS, "--index-dir", index_dir, "--no-progress", cwd=tmp_path_factory.mktemp("cwd"))
    return index_dir, result


@pytest.mark.integration
def test_index_prints_summary(seeds_index):
    index_dir, result = seeds_index
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout.strip().splitlines()
    assert len(out) == 1, result.stdout
    match = SUMMARY.match(out[0])
    assert match, out[0]
    files, chunks, embedded, unchanged = map(int, match.groups())
    assert files == len(list(SEEDS.glob("*.txt"))) and chunks > files and embedded == chunks and unchanged == 0
    assert (index_dir / "CURRENT").is_file()


@pytest.mark.integration
def test_reindex_unchanged_embeds_nothing(seeds_index):
    index_dir, _ = seeds_index
    result = rag("index", SEEDS, "--index-dir", index_dir, "--no-progress")
    assert result.returncode == 0, result.stderr
    files, chunks, embedded, unchanged = map(int, SUMMARY.match(result.stdout.strip()).groups())
    assert embedded == 0 and unchanged == files


@pytest.mark.integration
def test_search_json(seeds_index):
    index_dir, _ = seeds_index
    result = rag("search", "What was Alibaba's net income in the fourth quarter?", "-k", "3", "--json", "--index-dir", index_dir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["passages"]
    passages = data["passages"]
    assert 1 <= len(passages) <= 3
    for p in passages:
        assert {"source", "start_line", "end_line", "text", "score"} <= set(p)
        assert isinstance(p["score"], float)
        lines = seed_lines(p["source"])
        if p.get("start_char") is None:
            assert p["text"] == "\n".join(lines[p["start_line"] - 1 : p["end_line"]])
        else:
            assert p["text"] == lines[p["start_line"] - 1][p["start_char"] : p["end_char"]]
    assert any(p["source"] == "002_9fd4f84746180eec.txt" and p["start_line"] <= 6 <= p["end_line"] for p in passages)


@pytest.mark.integration
def test_search_text_output_and_env_index_dir(seeds_index, tmp_path):
    index_dir, _ = seeds_index
    result = rag("search", "Alibaba net income", "-k", "2", cwd=tmp_path, env={"RAG_INDEX_DIR": str(index_dir)})
    assert result.returncode == 0, result.stderr
    labels = re.findall(r"^\d+\. \[([^\]:]+):(\d+)(?:-(\d+))?\]  score ", result.stdout, flags=re.M)
    assert 1 <= len(labels) <= 2
    assert all((SEEDS / source).is_file() for source, *_ in labels)


# rag ask (in process, with the fake model: only checked sentences are printed) ------------------
@pytest.fixture(scope="module")
def ask_index(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("ask-index")
    from rag.embedder import Embedder

    Indexer(Settings(index_dir=index_dir), Embedder("all-MiniLM-L6-v2")).build([SEEDS], progress=False)
    return index_dir


def ask(capsys, index_dir: Path, *extra: str) -> tuple[int, str, str]:
    from rag.cli import main

    code = main(["ask", "What was Alibaba's net income in the fourth quarter?", "--index-dir", str(index_dir), "--model", "fake/model", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ask_prints_checked_sentences_and_supporting_words(capsys, ask_index):
    from fakes import install_fake_llm

    install_fake_llm().queue(
        "Net income was hitting ¥48.9 billion ($6.45 billion) [002_9fd4f84746180eec.txt:6]. Alibaba bought Tesla for $9 billion."
    )
    code, out, _ = ask(capsys, ask_index)
    assert code == 0
    assert "48.9 billion" in out and "[002_9fd4f84746180eec.txt:6]" in out and "Tesla" not in out
    assert "> " in out and "net income hitting ¥48.9 billion" in out  # the supporting words of line 6


def test_ask_says_which_kind_of_no_answer(capsys, ask_index):
    from fakes import install_fake_llm

    fake = install_fake_llm()
    fake.queue("I don't know.")
    code, out, _ = ask(capsys, ask_index)
    assert code == 0 and out.startswith("Not in the documents:") and "Passages found:" in out
    fake.queue("Alibaba bought Tesla for $9 billion [002_9fd4f84746180eec.txt:6].")
    code, out, _ = ask(capsys, ask_index)
    assert code == 0 and out.startswith("No checked answer:") and "Tesla" not in out


def test_ask_model_failure_is_an_error_not_a_refusal(capsys, ask_index):
    from fakes import install_fake_llm

    fake = install_fake_llm()
    fake.fail_next(5, "server_error")
    code, out, err = ask(capsys, ask_index)
    assert code != 0 and "error: The model is unavailable" in err.splitlines()[-1] and "Passages found:" in out
    fake.fail_next(5, "server_error")
    code, out, _ = ask(capsys, ask_index, "--json")
    assert code != 0 and json.loads(out)["status"] == "model_unavailable"


# Start-up messages: a cold start says what it loads and when it is ready --------------------------
READY = re.compile(r"^ready \(\d+\.\d s\)")


def test_ask_says_it_is_loading_then_ready(capsys, ask_index):
    from fakes import install_fake_llm

    install_fake_llm().queue("I don't know.")
    code, _, err = ask(capsys, ask_index, "--json")
    lines = err.splitlines()
    assert code == 0, err
    assert "loading the embedding model..." in lines, err  # a remote model has nothing to load
    ready = [n for n, line in enumerate(lines) if READY.match(line)]
    assert len(ready) == 1 and ready[0] > lines.index("loading the embedding model..."), err


def test_the_loading_message_names_a_first_start_assembly(tmp_path):
    from types import SimpleNamespace

    from rag.cli import _loading_message
    from rag.llm.client import LLMClient

    settings = Settings(llm_model="local/qwen2.5-coder-1.5b-instruct", model_cache_dir=tmp_path / "empty-cache")
    message = _loading_message(SimpleNamespace(settings=settings, llm=LLMClient(settings)))
    assert re.fullmatch(r"loading the embedding model and the language model \(first start assembles it, about \d+ s\)\.\.\.", message)


def test_serve_says_it_is_loading_then_ready(capsys, ask_index, monkeypatch):
    import importlib
    import logging
    import threading
    import time

    from fakes import install_fake_llm
    from rag.cli import main
    from server_process import free_port

    install_fake_llm()
    uvicorn_main = importlib.import_module("uvicorn.main")  # the module; `uvicorn.main` is its click command
    servers = []

    class StoppableServer(uvicorn_main.Server):  # uvicorn.run keeps its server to itself
        def __init__(self, config):
            super().__init__(config)
            servers.append(self)

    monkeypatch.setattr(uvicorn_main, "Server", StoppableServer)
    levels = {name: logging.getLogger(name).level for name in ("rag", "rag.api")}  # serve raises them
    port = free_port()
    codes = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["serve", "--port", str(port), "--index-dir", str(ask_index), "--model", "fake/model"])),
        daemon=True,
    )
    thread.start()
    err = ""
    try:
        deadline = time.monotonic() + 120
        while not any(READY.match(line) for line in err.splitlines()) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
            err += capsys.readouterr().err
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(30)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    lines = err.splitlines()
    assert codes == [0], err
    assert lines[0] == "loading the embedding model...", err
    assert any(line.startswith("rag-lines: serving on") for line in lines), err
    assert any(READY.match(line) and line.endswith(f"http://127.0.0.1:{port}/") for line in lines), err
