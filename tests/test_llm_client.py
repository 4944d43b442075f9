"""LLMClient through the real litellm path, against the fake provider in tests/fakes.py."""

from __future__ import annotations

import math
import time

import pytest

from tests.fakes import DEFAULT_ANSWER, FAKE_MODEL, install_fake_llm, split_deltas

from rag.errors import ModelError  # noqa: E402  (tests.fakes sets the litellm env first)
from rag.llm.client import Completion, LLMClient, describe_failure, is_transient  # noqa: E402
from rag.settings import Settings  # noqa: E402

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def fake():
    return install_fake_llm()


def make_client(**overrides) -> LLMClient:
    values = {"llm_model": FAKE_MODEL, "llm_retry_backoff_s": 0.01, "llm_retries": 2}
    values.update(overrides)
    return LLMClient(Settings(**values))


@pytest.fixture
def client() -> LLMClient:
    return make_client()


def drain(stream) -> tuple[list[str], list[Completion]]:
    deltas, finals = [], []
    for item in stream:
        (finals if isinstance(item, Completion) else deltas).append(item)
    return deltas, finals


# ---------------------------------------------------------------- happy paths


def test_complete_returns_text_usage_and_sends_settings(fake, client):
    fake.queue("Paris is the capital of France.")
    result = client.complete(QUESTION)
    assert result == Completion(
        text="Paris is the capital of France.", prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens, model=FAKE_MODEL,
    )
    assert result.prompt_tokens > 0 and result.completion_tokens == 6
    assert fake.requests == [QUESTION]
    assert fake.params[0]["temperature"] == 0.0
    assert fake.params[0]["max_tokens"] == 256


def test_answers_come_in_order_then_the_default(fake, client):
    fake.queue("first", "second")
    assert [client.complete(QUESTION).text for _ in range(3)] == ["first", "second", DEFAULT_ANSWER]


def test_stream_yields_deltas_then_one_completion(fake, client):
    answer = "Paris is the capital of France [a.txt:1]."
    fake.queue(answer)
    deltas, finals = drain(client.stream(QUESTION))
    assert deltas == split_deltas(answer) and len(deltas) > 3
    assert len(finals) == 1
    final = finals[0]
    assert final.text == answer and final.model == FAKE_MODEL
    assert final.prompt_tokens > 0 and final.completion_tokens > 0
    assert fake.params[0]["stream"] is True
    assert fake.streams_finished == 1


def test_the_completion_is_the_last_item(fake, client):
    fake.queue("one two three")
    items = list(client.stream(QUESTION))
    assert isinstance(items[-1], Completion)
    assert all(isinstance(i, str) for i in items[:-1])


def test_warm_up_is_a_no_op_for_remote_models(fake, client):
    client.warm_up()
    assert fake.requests == []


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize("kind", ["timeout", "server_error", "garbage"])
def test_transient_failure_is_retried_then_succeeds(fake, client, kind):
    fake.fail_next(2, kind)
    fake.queue("Paris.")
    assert client.complete(QUESTION).text == "Paris."
    assert len(fake.requests) == 3


@pytest.mark.parametrize("kind", ["timeout", "server_error", "garbage"])
def test_stream_failure_before_the_first_delta_is_retried(fake, client, kind):
    fake.fail_next(1, kind)
    fake.queue("Paris.")
    deltas, finals = drain(client.stream(QUESTION))
    assert "".join(deltas) == "Paris." and finals[0].text == "Paris."
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("kind", "words"),
    [("timeout", "timed out"), ("server_error", "server error"), ("garbage", "empty reply")],
)
def test_giving_up_raises_model_error_with_a_safe_message(fake, kind, words):
    client = make_client(llm_retries=3)
    fake.fail_next(10, kind)
    with pytest.raises(ModelError) as info:
        client.complete(QUESTION)
    message = str(info.value)
    assert len(fake.requests) == 4
    assert "fake" in message and words in message and "4 attempts" in message
    assert "Traceback" not in message and "\n" not in message and "fake: " not in message
    assert info.value.http_status == 502


def test_stream_gives_up_too(fake, client):
    fake.fail_next(10, "server_error")
    with pytest.raises(ModelError, match="server error"):
        drain(client.stream(QUESTION))
    assert len(fake.requests) == 3


def test_auth_errors_are_not_retried_and_never_show_the_key(fake, client):
    fake.fail_next(5, "auth")
    with pytest.raises(ModelError) as info:
        client.complete(QUESTION)
    assert len(fake.requests) == 1
    assert "sk-secret" not in str(info.value) and "API key" in str(info.value)


def test_no_retries_when_set_to_zero(fake):
    client = make_client(llm_retries=0)
    fake.fail_next(1, "timeout")
    with pytest.raises(ModelError):
        client.complete(QUESTION)
    assert len(fake.requests) == 1


def test_backoff_grows_exponentially(fake):
    client = make_client(llm_retries=2, llm_retry_backoff_s=0.1)
    fake.fail_next(2, "timeout")
    started = time.perf_counter()
    client.complete(QUESTION)
    assert time.perf_counter() - started >= 0.1 + 0.2 - 0.02


def test_a_stream_broken_after_output_is_not_retried(fake, client):
    fake.fail_next(1, "broken_stream")
    got = []
    with pytest.raises(ModelError, match="while answering"):
        for item in client.stream(QUESTION):
            got.append(item)
    assert got and all(isinstance(i, str) for i in got)
    assert len(fake.requests) == 1


def test_classification():
    import litellm

    assert is_transient(litellm.RateLimitError(message="x", model="m", llm_provider="p"))
    assert is_transient(litellm.APIConnectionError(message="x", model="m", llm_provider="p"))
    assert is_transient(litellm.ServiceUnavailableError(message="x", model="m", llm_provider="p"))
    assert not is_transient(litellm.BadRequestError(message="x", model="m", llm_provider="p"))
    assert not is_transient(litellm.ContextWindowExceededError(message="x", model="m", llm_provider="p"))
    assert not is_transient(ValueError("bug"))
    exc = litellm.ContextWindowExceededError(message="x", model="m", llm_provider="p")
    assert "context window" in describe_failure(exc)


# ---------------------------------------------------------------- early close


def test_closing_the_stream_early_stops_the_provider(fake, client):
    fake.delay_s = 0.02
    fake.queue("word " * 200)  # about 330 deltas, about 7 s if it ran to the end
    stream = client.stream(QUESTION)
    first = next(stream)
    assert isinstance(first, str)
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 0.5
    assert fake.streams_closed_early == 1 and fake.streams_finished == 0
    assert fake.deltas_sent < 5


# ---------------------------------------------------------------- first-token probes

def _steps(*positions: dict[str, float]) -> list[list[tuple[str, float]]]:
    return [[(token, math.log(p)) for token, p in position.items()] for position in positions]


def test_decline_probability_counts_the_opening_only_as_a_whole_word(client, monkeypatch):
    # The local model spells "Ivan" as "I" + "van": that is no "I don't know." (seeds: "Which firm is Ivan Su from?").
    monkeypatch.setattr(client, "first_tokens", lambda messages, count=1, yes_no=False: (
        _steps({"I": 0.7, "Morning": 0.3}, {"van": 0.98, " don": 0.02}), "Ivan"))
    assert client.decline_probability(QUESTION, "I") == pytest.approx(0.7 * 0.02)
    monkeypatch.setattr(client, "first_tokens", lambda messages, count=1, yes_no=False: (
        _steps({"I": 0.8, "Paris": 0.2}, {" don": 0.9, "'m": 0.1}), "I don"))
    assert client.decline_probability(QUESTION, "I") == pytest.approx(0.8)
    # When another token is likelier, the second position follows it and says nothing about "I".
    monkeypatch.setattr(client, "first_tokens", lambda messages, count=1, yes_no=False: (
        _steps({"Paris": 0.6, "I": 0.4}, {" is": 1.0}), "Paris is"))
    assert client.decline_probability(QUESTION, "I") == pytest.approx(0.4)


def test_decline_probability_without_log_probabilities_reads_the_first_word(client, monkeypatch):
    for reply, expected in (("I don", 1.0), ("Ivan", 0.0), ("Paris", 0.0)):
        monkeypatch.setattr(client, "first_tokens", lambda messages, count=1, yes_no=False, reply=reply: ([], reply))
        assert client.decline_probability(QUESTION, "I") == expected


def test_decline_probe_asks_for_two_tokens_with_log_probabilities(fake, client):
    fake.queue_decline(0.9)
    assert client.decline_probability(QUESTION, "I") == pytest.approx(0.9)
    fake.queue_decline(0.2)
    assert client.decline_probability(QUESTION, "I") == pytest.approx(0.2)
