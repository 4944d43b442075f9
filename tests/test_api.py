"""The HTTP API, route by route, over a real index of seeds/ and the fake LLM."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import STORES
from api_helpers import (  # noqa: F401 - fixtures are found by name
    ANSWER_KEYS,
    CITATION_KEYS,
    NET_INCOME_ANSWER,
    NET_INCOME_QUESTION,
    NET_INCOME_SOURCE,
    PASSAGE_KEYS,
    api_client,
    built_index,
    built_milvus_store,
    fake,
    file_lines,
    raw_request,
    sse_json,
)

MARKER = re.compile(r"\[[^\]\n]*\]")


@pytest.fixture(scope="module", params=STORES)
def client(request, built_index):
    """The API over the session index in each store: FAISS files, and Milvus Lite."""
    overrides = {"vector_store": request.getfixturevalue("built_milvus_store")} if request.param == "milvus" else {}
    with api_client(built_index, **overrides) as client:
        yield client


def assert_passage_matches_file(passage: dict, corpus: Path) -> None:
    assert PASSAGE_KEYS <= passage.keys()
    lines = file_lines(corpus, passage["source"])
    assert 1 <= passage["start_line"] <= passage["end_line"] <= len(lines)
    if passage.get("start_char") is not None:
        line = lines[passage["start_line"] - 1]
        assert passage["text"] == line[passage["start_char"] : passage["end_char"]]
    else:
        assert passage["text"] == "\n".join(lines[passage["start_line"] - 1 : passage["end_line"]])


def assert_detail(response, status: int | None = None) -> str:
    if status is not None:
        assert response.status_code == status, response.text
    else:
        assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"], body
    return body["detail"]


# Page, static files, health ----------------------------------------------------------------


def test_chat_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text and "rag-lines" in response.text
    assert "/static/app.js" in response.text


def test_static_script_is_served(client):
    response = client.get("/static/app.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.text.strip()


def test_page_and_its_files_carry_security_headers(client):
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "http" not in policy and "unsafe" not in policy  # no CDN, no inline code
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).headers["x-content-type-options"] == "nosniff"


def test_health_reports_ready_index_and_models(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["chunks"] > 0
    assert body["documents"] == 5
    assert body["llm_model"] == "fake/model"
    assert body["embedding_model"] == "all-MiniLM-L6-v2"
    assert body["auth_required"] is False


# Search and sources --------------------------------------------------------------------------


def test_search_returns_k_passages_with_exact_text(client, built_index):
    response = client.get("/v1/search", params={"q": "Alibaba net income fourth quarter", "k": 3})
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert len(passages) == 3
    for passage in passages:
        assert isinstance(passage["score"], float)
        assert_passage_matches_file(passage, built_index.corpus)
    assert any(p["source"] == NET_INCOME_SOURCE and p["start_line"] <= 6 <= p["end_line"] for p in passages)


def test_sources_returns_the_lines(client, built_index):
    response = client.get(f"/v1/sources/{NET_INCOME_SOURCE}", params={"start": 4, "end": 6})
    assert response.status_code == 200
    body = response.json()
    lines = file_lines(built_index.corpus, NET_INCOME_SOURCE)
    assert body["source"] == NET_INCOME_SOURCE
    assert (body["start_line"], body["end_line"]) == (4, 6)
    assert body["lines"] == lines[3:6]
    assert body["total_lines"] == len(lines)


def test_sources_whole_file_without_range(client, built_index):
    body = client.get(f"/v1/sources/{NET_INCOME_SOURCE}").json()
    assert body["lines"] == file_lines(built_index.corpus, NET_INCOME_SOURCE)


@pytest.mark.parametrize(
    "raw_path",
    [
        "/v1/sources/..%2Fsecret.txt",
        "/v1/sources/a/../../etc/passwd",
        "/v1/sources/../../../../etc/passwd",
        "/v1/sources/%2e%2e/%2e%2e/etc/passwd",
        "/v1/sources/%2Fetc%2Fpasswd",
        "/v1/sources//etc/passwd",
        "/v1/sources/..%5C..%5Cetc%5Cpasswd",
    ],
)
def test_sources_refuses_paths_outside_the_corpus(client, raw_path):
    status, headers, body = raw_request(client.app, "GET", raw_path)
    assert 400 <= status < 500, (status, body)
    assert "root:" not in body.decode("utf-8", "replace")
    assert "/bin/" not in body.decode("utf-8", "replace")
    if status != 404 or headers.get("content-type", "").startswith("application/json"):
        assert isinstance(json.loads(body)["detail"], str)


def test_sources_refuses_dotdot_through_the_client_too(client):
    response = client.get("/v1/sources/..%2Fsecret.txt")
    assert_detail(response)
    response = client.get("/v1/sources/%2e%2e/%2e%2e/etc/passwd")
    assert_detail(response)
    assert "root:" not in response.text


def test_sources_refuses_unindexed_file_that_exists_on_disk(client, built_index):
    extra = built_index.corpus / "zz_not_indexed.txt"
    extra.write_text("a secret that was never indexed\n", encoding="utf-8")
    try:
        response = client.get("/v1/sources/zz_not_indexed.txt")
        assert_detail(response, 404)
        assert "secret that was never indexed" not in response.text
    finally:
        extra.unlink()


def test_sources_unknown_is_404(client):
    assert_detail(client.get("/v1/sources/no_such_file.txt"), 404)


def test_sources_bad_range_is_4xx(client):
    assert_detail(client.get(f"/v1/sources/{NET_INCOME_SOURCE}", params={"start": 9999}))
    assert_detail(client.get(f"/v1/sources/{NET_INCOME_SOURCE}", params={"start": 5, "end": 2}))
    assert_detail(client.get(f"/v1/sources/{NET_INCOME_SOURCE}", params={"start": 0}))


# Ask -----------------------------------------------------------------------------------------


def test_ask_json_returns_verified_answer(client, fake, built_index):
    fake.queue(NET_INCOME_ANSWER)
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert ANSWER_KEYS <= body.keys()
    assert body["answerable"] is True
    assert body["model"] == "fake/model"
    assert {"retrieve", "generate", "total"} <= body["timings_ms"].keys()
    assert body["citations"], body
    citation = body["citations"][0]
    assert CITATION_KEYS <= citation.keys()
    assert citation["verified"] is True
    assert (citation["source"], citation["start_line"], citation["end_line"]) == (NET_INCOME_SOURCE, 6, 6)
    assert citation["quote"] == file_lines(built_index.corpus, NET_INCOME_SOURCE)[5]
    assert f"[{NET_INCOME_SOURCE}:6]" in body["answer"]
    assert body["passages"]
    for passage in body["passages"]:
        assert_passage_matches_file(passage, built_index.corpus)
    assert len(fake.requests) == 1


def test_ask_respects_top_k(client, fake):
    fake.queue(NET_INCOME_ANSWER)
    body = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION, "top_k": 2}).json()
    assert len(body["passages"]) <= 2


def test_ask_stream_sends_checked_sentences_then_one_answer(client, fake):
    fake.queue(NET_INCOME_ANSWER)
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_json(response.text)
    names = [name for name, _ in frames]
    assert names.count("answer") == 1 and names[-1] == "answer", names
    deltas = [data for name, data in frames if name == "delta"]
    assert deltas and set(names) == {"delta", "answer"}
    for data in deltas:  # each delta is one whole sentence that passed the check, with its citations
        assert set(data) == {"text", "sentence", "citations"}
        assert data["sentence"]["supported"] is True and data["citations"]
        assert all(c["verified"] and c["spans"] for c in data["citations"])
    streamed = "".join(d["text"] for d in deltas)
    assert "48.9 billion" in streamed and f"[{NET_INCOME_SOURCE}:6]" in streamed
    answer = frames[-1][1]
    assert ANSWER_KEYS <= answer.keys()
    assert answer["answerable"] is True
    assert answer["citations"][0]["verified"] is True
    assert answer["answer"] == streamed.strip()


UNSUPPORTED = "Alibaba also bought Tesla for $9 billion"


def test_unsupported_sentence_never_leaves_any_route(client, fake):
    answer_text = f"{NET_INCOME_ANSWER} {UNSUPPORTED} [{NET_INCOME_SOURCE}:6]."
    for body in ({"question": NET_INCOME_QUESTION}, {"question": NET_INCOME_QUESTION, "stream": True}):
        fake.queue(answer_text)
        response = client.post("/v1/ask", json=body)
        assert "48.9 billion" in response.text
        if body.get("stream"):
            deltas = [data for name, data in sse_json(response.text) if name == "delta"]
            assert deltas and not any("Tesla" in d["text"] for d in deltas)
            final = sse_json(response.text)[-1][1]
        else:
            final = response.json()
        assert "Tesla" not in final["answer"]
        assert [s["supported"] for s in final["sentences"]] == [True, False]
    for stream in (False, True):
        fake.queue(answer_text)
        response = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": NET_INCOME_QUESTION}], "stream": stream},
        )
        if stream:
            content = "".join(c["choices"][0]["delta"].get("content") or "" for _, c in sse_json(response.text)[:-1])
        else:
            content = response.json()["choices"][0]["message"]["content"]
        assert "48.9 billion" in content and "Tesla" not in content


def test_ask_not_answerable_when_model_declines(client, fake):
    fake.queue("I don't know.")
    body = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION}).json()
    assert body["answerable"] is False
    assert body["citations"] == []
    assert body["answer"]


# Chat completions --------------------------------------------------------------------------


def test_chat_completions_openai_shape(client, fake):
    fake.queue(NET_INCOME_ANSWER)
    response = client.post(
        "/v1/chat/completions",
        json={"model": "anything", "messages": [{"role": "user", "content": NET_INCOME_QUESTION}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "48.9 billion" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert body["citations"] and body["citations"][0]["verified"] is True
    assert body["citations"][0]["source"] == NET_INCOME_SOURCE


def test_chat_completions_stream(client, fake):
    fake.queue(NET_INCOME_ANSWER)
    response = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": NET_INCOME_QUESTION}], "stream": True},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_json(response.text)
    assert frames[-1] == (None, "[DONE]")
    chunks = [data for _, data in frames[:-1]]
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["citations"] and final["citations"][0]["verified"] is True
    assert final["citations"][0]["source"] == NET_INCOME_SOURCE
    assert final["usage"]["total_tokens"] > 0
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert "48.9 billion" in content


def test_chat_follow_up_uses_the_conversation(client, fake):
    fake.queue("Meta is spending $65 billion [002_9fd4f84746180eec.txt:4].")
    response = client.post(
        "/v1/chat/completions",
        json={
            "messages": [
                {"role": "user", "content": "How much is Alibaba investing in AI?"},
                {"role": "assistant", "content": "Alibaba is investing $53 billion over three years."},
                {"role": "user", "content": "and how much did Meta spend?"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    prompt = "\n".join(str(m.get("content")) for m in fake.requests[-1])
    assert "How much is Alibaba investing in AI?" in prompt
    assert "and how much did Meta spend?" in prompt
    assert "$65 billion" in prompt and "Meta" in prompt


def test_chat_without_user_text_is_4xx(client):
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]})
    assert_detail(response)


# Docs ----------------------------------------------------------------------------------------


def test_docs_and_openapi(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = client.get("/openapi.json").json()
    for path in ("/v1/ask", "/v1/search", "/v1/sources/{source}", "/v1/chat/completions", "/health"):
        assert path in schema["paths"], path
    ref = schema["paths"]["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    ask_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert ask_schema["examples"][0]["question"]
    # errors are documented as they are sent: {"detail": str}
    error = schema["components"]["schemas"]["HTTPValidationError"]
    assert error["properties"]["detail"]["type"] == "string"
    # both streaming routes document their event stream
    for path in ("/v1/ask", "/v1/chat/completions"):
        assert "text/event-stream" in schema["paths"][path]["post"]["responses"]["200"]["content"], path


@pytest.mark.parametrize("url", ["/docs", "/redoc"])
def test_doc_pages_load_their_scripts_from_this_server(client, url):
    page = client.get(url)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/static/docs/"), asset  # no CDN
        assert client.get(asset).status_code == 200, asset
    assert "openapi.json" in page.text


# Validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": 123},
        {"question": ["a"]},
        {"question": "ok", "top_k": "many"},
        {"question": "ok", "top_k": 0},
        {"question": "ok", "top_k": 1000},
        {"question": "ok", "stream": "perhaps"},
        {"question": "ok", "unexpected": 1},
        {},
        [],
        "just a string",
    ],
)
def test_ask_validation_errors_are_4xx_with_string_detail(client, body):
    assert_detail(client.post("/v1/ask", json=body))


def test_ask_blank_question_is_4xx(client):
    assert_detail(client.post("/v1/ask", json={"question": "   "}))


def test_ask_malformed_json_is_4xx(client):
    response = client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert_detail(response)


@pytest.mark.parametrize("params", [{"q": "x", "k": 0}, {"q": "x", "k": 51}, {"q": "x", "k": "ten"}, {"q": ""}, {}])
def test_search_validation_errors_are_4xx_with_string_detail(client, params):
    assert_detail(client.get("/v1/search", params=params))


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": "hello"},
        {},
    ],
)
def test_chat_validation_errors_are_4xx_with_string_detail(client, body):
    assert_detail(client.post("/v1/chat/completions", json=body))
