"""The HTTP API under hostile or unlucky conditions: auth, CORS, big bodies, overload, client
disconnects, model faults, a broken index, and what the logs may (not) contain."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from api_helpers import (  # noqa: F401 - fixtures are found by name
    NET_INCOME_ANSWER,
    NET_INCOME_QUESTION,
    NET_INCOME_SOURCE,
    Background,
    api_client,
    built_index,
    fake,
    sse_json,
    wait_for,
)

TRACEBACK_SIGNS = ("Traceback", 'File "', "site-packages", "Error:")
PARTS = ("cloud", "commerce", "logistics", "media", "payments", "travel", "health", "gaming", "mapping", "grocery",
         "music", "chips")


def slow_answer(sentences: int) -> str:
    """Distinct sentences (a repeated one would be stopped as a looping model), ~50 deltas each.
    Each states the net income its line gives, so each passes the check and is streamed as it
    ends: sentences the check rejects are never sent, and a retry would take the next queued answer."""
    return " ".join(f"Alibaba reported net income of ¥48.9 billion ($6.45 billion) for the quarter, and its {part} "
                    f"unit keeps investing heavily [{NET_INCOME_SOURCE}:6]." for part in PARTS[:sentences])


SLOW_ANSWER = slow_answer(4)


def assert_json_detail(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


def assert_no_traceback(text: str) -> None:
    for sign in TRACEBACK_SIGNS:
        assert sign not in text, text


# API keys ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_client(built_index):
    with api_client(built_index, api_keys=["k1", "k2"]) as client:
        yield client


V1_CALLS = [
    ("GET", "/v1/search?q=Alibaba&k=2", None),
    ("GET", "/v1/sources/002_9fd4f84746180eec.txt?start=1&end=2", None),
    ("POST", "/v1/ask", {"question": NET_INCOME_QUESTION}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": NET_INCOME_QUESTION}]}),
]


@pytest.mark.parametrize("method,url,body", V1_CALLS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "k1"}, {"Authorization": "Basic k1"}])
def test_v1_needs_a_valid_key(keyed_client, fake, method, url, body, headers):
    response = keyed_client.request(method, url, json=body, headers=headers)
    detail = assert_json_detail(response, 401)
    assert "API key" in detail
    assert response.headers.get("www-authenticate") == "Bearer"
    assert fake.requests == []  # nothing reached the model


@pytest.mark.parametrize("key", ["k1", "k2"])
@pytest.mark.parametrize("method,url,body", V1_CALLS)
def test_v1_works_with_either_key(keyed_client, fake, key, method, url, body):
    response = keyed_client.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "url", ["/health", "/", "/static/app.js", "/static/style.css", "/static/docs/swagger-ui.css"]
)
def test_public_routes_need_no_key(keyed_client, url):
    response = keyed_client.get(url)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("url", ["/metrics", "/openapi.json", "/docs", "/redoc"])
def test_metrics_and_docs_need_a_key(keyed_client, url):
    detail = assert_json_detail(keyed_client.get(url), 401)
    assert "API key" in detail
    assert keyed_client.get(url, headers={"Authorization": "Bearer k2"}).status_code == 200


def test_schema_documents_the_bearer_key(keyed_client):
    schema = keyed_client.get("/openapi.json", headers={"Authorization": "Bearer k1"}).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/ask"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_health_says_auth_is_required(keyed_client):
    assert keyed_client.get("/health").json()["auth_required"] is True


def test_no_key_needed_when_keys_are_off(built_index, fake):
    with api_client(built_index) as client:
        assert client.get("/v1/search", params={"q": "Alibaba"}).status_code == 200
        assert client.post("/v1/ask", json={"question": NET_INCOME_QUESTION}).status_code == 200


# CORS ----------------------------------------------------------------------------------------


def test_cors_off_by_default(built_index):
    with api_client(built_index) as client:
        response = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
        preflight = client.options(
            "/v1/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_cors_on_when_origins_are_set(built_index):
    with api_client(built_index, cors_origins=["https://app.example"]) as client:
        response = client.get("/health", headers={"Origin": "https://app.example"})
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        preflight = client.options(
            "/v1/ask", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_preflight_is_not_blocked_by_api_keys(built_index):
    with api_client(built_index, cors_origins=["https://app.example"], api_keys=["k1"]) as client:
        preflight = client.options(
            "/v1/ask",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        # a refusal is readable by the page too (it can then ask for a key)
        refused = client.get("/v1/search", params={"q": "x"}, headers={"Origin": "https://app.example"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://app.example"
        allowed = client.get(
            "/v1/search", params={"q": "x"}, headers={"Origin": "https://app.example", "Authorization": "Bearer k1"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"


# Sizes ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(built_index):
    with api_client(built_index) as client:
        yield client


def test_one_megabyte_body_is_413(client, fake):
    body = json.dumps({"question": "x" * 1_000_000})
    response = client.post("/v1/ask", content=body, headers={"content-type": "application/json"})
    assert_json_detail(response, 413)
    assert fake.requests == []


def test_chunked_one_megabyte_body_is_413(client, fake):
    def chunks():
        yield b'{"question": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    response = client.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"})
    assert_json_detail(response, 413)
    assert fake.requests == []


def test_question_longer_than_the_limit_is_refused(client, fake):
    response = client.post("/v1/ask", json={"question": "why " * 600})
    assert response.status_code in (413, 422), response.text
    assert isinstance(response.json()["detail"], str)
    response = client.get("/v1/search", params={"q": "why " * 600})
    assert response.status_code in (413, 422), response.text
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "why " * 600}]})
    assert response.status_code in (413, 422), response.text
    assert fake.requests == []


def test_bad_content_length_is_400(client):
    status_seen = client.post(
        "/v1/ask", content=b'{"question": "hi"}', headers={"content-type": "application/json", "content-length": "abc"}
    )
    assert 400 <= status_seen.status_code < 500


# Overload and disconnects ------------------------------------------------------------------------


def _read_stream(client, question):
    response = client.post("/v1/ask", json={"question": question, "stream": True})
    return response.status_code, response.text


def test_overload_is_503_with_retry_after_and_search_stays_up(built_index, fake):
    with api_client(built_index, max_concurrent_generations=1, max_queued_generations=0) as client:
        gate = client.app.state.rag.gate
        fake.queue(SLOW_ANSWER, NET_INCOME_ANSWER)
        fake.delay_s = 0.02  # ~200 deltas: the first answer holds the only slot for a couple of seconds
        first = Background(_read_stream, client, NET_INCOME_QUESTION)
        first.start()
        assert wait_for(lambda: gate.running == 1 and fake.deltas_sent > 0)

        second = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
        assert_json_detail(second, 503)
        assert int(second.headers["retry-after"]) > 0
        second_chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi there"}]})
        assert_json_detail(second_chat, 503)
        assert "retry-after" in second_chat.headers

        search = client.get("/v1/search", params={"q": "Meta spending", "k": 2})
        assert search.status_code == 200 and len(search.json()["passages"]) == 2
        assert gate.running == 1  # the search ran while the generation was still going

        first.join(30)
        assert not first.is_alive() and first.error is None
        status, text = first.result
        assert status == 200
        assert [name for name, _ in sse_json(text)][-1] == "answer"
        assert wait_for(lambda: gate.running == 0)

        fake.delay_s = 0
        third = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
        assert third.status_code == 200, third.text
        assert third.json()["answerable"] is True
        assert gate.rejected == 2
        metrics = client.get("/metrics").text
        assert "rag_generations_rejected_total 2" in metrics


def test_slot_is_freed_after_each_kind_of_request(built_index, fake):
    """With one slot and no queue, every way a generation can end must give the slot back."""
    with api_client(built_index, max_concurrent_generations=1, max_queued_generations=0) as client:
        gate = client.app.state.rag.gate
        question = {"question": NET_INCOME_QUESTION}
        fake.queue(NET_INCOME_ANSWER)
        assert client.post("/v1/ask", json=question).status_code == 200
        assert wait_for(lambda: gate.running == 0)
        fake.queue(NET_INCOME_ANSWER)
        assert client.post("/v1/ask", json={**question, "stream": True}).status_code == 200
        assert wait_for(lambda: gate.running == 0)
        fake.fail_next(10, "server_error")
        assert client.post("/v1/ask", json=question).status_code == 502
        assert wait_for(lambda: gate.running == 0)
        fake.failures.clear()
        chat = {"messages": [{"role": "user", "content": NET_INCOME_QUESTION}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        assert wait_for(lambda: gate.running == 0)
        assert client.post("/v1/chat/completions", json={**chat, "stream": True}).status_code == 200
        assert wait_for(lambda: gate.running == 0)
        assert client.post("/v1/ask", json=question).status_code == 200
        assert gate.rejected == 0


@pytest.mark.parametrize("route", ["/v1/ask", "/v1/chat/completions"])
def test_client_disconnect_stops_generation(built_index, fake, route, caplog):
    caplog.set_level(logging.INFO, logger="rag.api")
    with api_client(built_index) as client:
        gate = client.app.state.rag.gate
        answer = slow_answer(12)  # ~600 deltas: many seconds at this pace
        total_deltas = len(answer) // 3 + 1
        fake.queue(answer)
        fake.delay_s = 0.02
        body = (
            {"question": NET_INCOME_QUESTION, "stream": True}
            if route == "/v1/ask"
            else {"messages": [{"role": "user", "content": NET_INCOME_QUESTION}], "stream": True}
        )
        with client.stream("POST", route, json=body) as response:
            assert response.status_code == 200
            data_lines = 0
            for line in response.iter_lines():
                data_lines += line.startswith("data:")
                if data_lines == 2:  # /v1/ask: two deltas; chat: the role chunk and one delta
                    # Checked before leaving: the client may close the connection as soon as the loop ends.
                    assert gate.running == 1
                    break
        assert wait_for(lambda: gate.running == 0, timeout_s=10), "the answer slot was not given back"
        assert wait_for(lambda: fake.streams_closed_early == 1, timeout_s=10), "the model stream was not closed"
        produced = fake.deltas_sent
        assert produced < total_deltas
        assert fake.streams_finished == 0
        # and it stays stopped
        assert not wait_for(lambda: fake.deltas_sent > produced + 1, timeout_s=0.5)
        # the abandoned request is still logged, once
        assert wait_for(lambda: any(r.get("route") == route for r in _records(caplog)))
        assert sum(r.get("route") == route for r in _records(caplog)) == 1


# Model faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["timeout", "server_error", "garbage"])
def test_model_failure_is_502_with_passages(client, fake, kind):
    fake.fail_next(10, kind)
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    assert response.status_code == 502, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["status"] == "model_unavailable"
    assert body["answerable"] is False
    assert body["passages"], body
    assert body["citations"] == []
    assert_no_traceback(response.text)
    assert len(fake.requests) == 3  # llm_retries=2: three tries in all


@pytest.mark.parametrize("kind", ["timeout", "server_error", "garbage"])
def test_model_failure_in_a_stream_is_an_error_event(client, fake, kind):
    fake.fail_next(10, kind)
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION, "stream": True})
    assert response.status_code == 200
    frames = sse_json(response.text)
    assert frames[-1][0] == "error"
    payload = frames[-1][1]
    assert payload["status"] == "model_unavailable" and payload["passages"] and payload["detail"]


def test_model_failure_in_chat_is_502(client, fake):
    fake.fail_next(10, "server_error")
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": NET_INCOME_QUESTION}]})
    assert_json_detail(response, 502)
    assert_no_traceback(response.text)


def test_auth_failure_of_the_model_leaks_no_key(client, fake):
    fake.fail_next(1, "auth")
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    assert response.status_code == 502
    assert "sk-secret-123" not in response.text
    assert len(fake.requests) == 1  # never retried


@pytest.mark.parametrize("kind", ["timeout", "server_error", "garbage"])
def test_one_failure_then_success_is_retried(client, fake, kind):
    fake.fail_next(1, kind)
    fake.queue(NET_INCOME_ANSWER)
    response = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    assert response.status_code == 200, response.text
    assert response.json()["answerable"] is True
    assert len(fake.requests) == 2


# Broken or missing index -------------------------------------------------------------------------


def _corrupt_copy(built_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir)
    generation = (index_dir / "CURRENT").read_text().strip()
    faiss_file = index_dir / generation / "dense.faiss"
    with open(faiss_file, "r+b") as handle:
        handle.truncate(faiss_file.stat().st_size // 2)
    return index_dir


def _assert_not_ready(client, fake):
    health = client.get("/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "not_ready"
    assert "rag index" in body["detail"]
    assert_no_traceback(health.text)
    search = client.get("/v1/search", params={"q": "Alibaba"})
    detail = assert_json_detail(search, 503)
    assert "rag index" in detail
    assert_no_traceback(search.text)
    ask = client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    assert_json_detail(ask, 503)
    assert_no_traceback(ask.text)
    source = client.get("/v1/sources/002_9fd4f84746180eec.txt")
    assert_json_detail(source, 503)
    assert fake.requests == []
    assert client.get("/").status_code == 200  # the page still loads and can say what is wrong


def test_corrupt_index_is_not_ready(built_index, fake, tmp_path):
    index_dir = _corrupt_copy(built_index, tmp_path)
    with api_client(built_index, index_dir=index_dir, expect_ready=False) as client:
        _assert_not_ready(client, fake)
        assert "unreadable" in client.get("/health").json()["detail"]


def test_missing_index_is_not_ready(built_index, fake, tmp_path):
    with api_client(built_index, index_dir=tmp_path / "nothing-here", expect_ready=False) as client:
        _assert_not_ready(client, fake)


# Logs and metrics ----------------------------------------------------------------------------------


def _records(caplog) -> list[dict]:
    lines = [r.getMessage() for r in caplog.records if r.name == "rag.api" and r.levelno >= logging.INFO]
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_one_structured_log_line_per_request(built_index, fake, caplog):
    key = "sk-very-secret-test-key"
    with api_client(built_index, api_keys=[key]) as client:
        auth = {"Authorization": f"Bearer {key}"}
        caplog.clear()
        caplog.set_level(logging.INFO, logger="rag.api")
        fake.queue(NET_INCOME_ANSWER, NET_INCOME_ANSWER)
        assert client.get("/v1/search", params={"q": "net income hitting"}, headers=auth).status_code == 200
        assert client.post("/v1/ask", json={"question": NET_INCOME_QUESTION}, headers=auth).status_code == 200
        assert client.post("/v1/ask", json={"question": NET_INCOME_QUESTION, "stream": True}, headers=auth).status_code == 200
        assert client.get("/v1/sources/002_9fd4f84746180eec.txt", headers=auth).status_code == 200
        assert client.get("/v1/search", params={"q": "x"}, headers={"Authorization": "Bearer wrong-key"}).status_code == 401

        records = _records(caplog)
        assert [(r["route"], r["status"]) for r in records] == [
            ("/v1/search", 200),
            ("/v1/ask", 200),
            ("/v1/ask", 200),
            ("/v1/sources/{source:path}", 200),
            ("/v1/search", 401),
        ]
        for record in records:
            assert isinstance(record["ms"], (int, float)) and record["ms"] >= 0
        for record in records[1:3]:  # the JSON ask and the streamed ask (logged when its stream ends)
            assert record["prompt_tokens"] > 0 and record["completion_tokens"] > 0
            assert record["status_answer"] == "answered"

        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "net income hitting" not in logged
        assert "48.9" not in logged
        assert key not in logged and "wrong-key" not in logged


def test_metrics_counts_requests(client, fake):
    fake.queue(NET_INCOME_ANSWER)
    client.get("/v1/search", params={"q": "Alibaba"})
    client.post("/v1/ask", json={"question": NET_INCOME_QUESTION})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'rag_requests_total{route="/v1/search",status="200"}' in text
    assert 'rag_requests_total{route="/v1/ask",status="200"}' in text
    assert "rag_generations_total" in text
    assert "rag_prompt_tokens_total" in text
    assert "rag_generations_running 0" in text


def test_metrics_label_requests_by_route_template(client):
    source = "002_9fd4f84746180eec.txt"
    assert client.get(f"/v1/sources/{source}", params={"start": 1, "end": 1}).status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    text = client.get("/metrics").text
    assert 'rag_requests_total{route="/v1/sources/{source:path}",status="200"}' in text
    assert 'rag_requests_total{route="/static/{path}",status="200"}' in text
    assert 'rag_requests_total{route="unmatched",status="404"}' in text
    assert source not in text and "app.js" not in text and "/no/such/page" not in text


def test_each_app_counts_in_its_own_registry(client, built_index):
    assert client.get("/v1/search", params={"q": "Alibaba"}).status_code == 200
    with api_client(built_index) as other:
        assert 'route="/v1/search"' not in other.get("/metrics").text
    assert 'rag_requests_total{route="/v1/search",status="200"}' in client.get("/metrics").text
