"""A fake language model for unit tests, reached through the real litellm path.

    fake = install_fake_llm()            # registers litellm provider "fake"; returns it cleared
    fake.queue("Paris is the capital [a.txt:1].")
    client = LLMClient(Settings(llm_model="fake/model", llm_retry_backoff_s=0.01))
    client.complete([{"role": "user", "content": "..."}]).text

When no answer is queued the fake answers "I don't know.". Yes/no questions of the claim
judge (one-token requests ending "Verdict:") are answered from `queue_verdicts(...)`, "yes" when
none is queued, and recorded in `judged`, not `requests`. Other one-token looks at how the model
would open its reply (the answerer's decline gate, the judge's "answers" question) are recorded
in `probed`: they get log-probabilities only when `queue_decline(p)` gave the probability of
opening with a refusal, and otherwise the reply "The" without any (as from a provider without
log-probabilities). `fail_next(n, kind)` makes the
next n calls fail: "timeout" (litellm.Timeout), "server_error" (HTTP 500), "garbage" (an
empty reply), "auth" (HTTP 401, never retried) or "broken_stream" (a stream that breaks
after two deltas; HTTP 500 for a plain completion). Streams yield the answer in small
deltas, `delay_s` apart.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import litellm  # noqa: E402
from litellm import CustomLLM  # noqa: E402
from litellm.types.utils import GenericStreamingChunk  # noqa: E402
from litellm.utils import custom_llm_setup  # noqa: E402

FAKE_MODEL = "fake/model"
DEFAULT_ANSWER = "I don't know."
FAIL_KINDS = ("timeout", "server_error", "garbage", "auth", "broken_stream")


def split_deltas(text: str, size: int = 3) -> list[str]:
    """Small pieces, like a tokenizer's: at most `size` characters each."""
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeLLM(CustomLLM):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.reset()

    # ------------------------------------------------------------------ test controls

    def reset(self) -> None:
        with self._lock:
            self.answers: list[str] = []
            self.failures: list[str] = []
            self.requests: list[list[dict]] = []
            self.params: list[dict] = []  # optional params of each call (temperature, max_tokens, ...)
            self.verdicts: list[str] = []
            self.judged: list[list[dict]] = []
            self.probed: list[list[dict]] = []
            self.declines: list[float] = []
            self.delay_s: float = 0.0
            self.deltas_sent = 0  # deltas actually produced by streams (early close shows here)
            self.streams_closed_early = 0
            self.streams_finished = 0

    def queue(self, *answers: str) -> None:
        with self._lock:
            self.answers.extend(answers)

    def queue_verdicts(self, *verdicts: str) -> None:
        """Replies ("yes"/"no") to the claim judge's next questions."""
        with self._lock:
            self.verdicts.extend(verdicts)

    def queue_decline(self, *probabilities: float) -> None:
        """Probabilities that the model opens its next replies with a refusal ("I don't know.")."""
        with self._lock:
            self.declines.extend(probabilities)

    def fail_next(self, n: int, kind: str) -> None:
        if kind not in FAIL_KINDS:
            raise ValueError(f"kind must be one of {FAIL_KINDS}")
        with self._lock:
            self.failures.extend([kind] * n)

    # ------------------------------------------------------------------ behaviour

    def _next(self, messages: list, optional_params: dict) -> str | tuple[str, float | None]:
        """Record the call; raise or return the answer text ("" for garbage, None for a broken stream).

        A look at the first token returns (that token, the queued decline probability or None)."""
        if optional_params.get("max_tokens") in (1, 2) and optional_params.get("logprobs"):
            with self._lock:
                if str(messages[-1].get("content", "")).endswith("Verdict:"):
                    self.judged.append([dict(m) for m in messages])
                    return self.verdicts.pop(0) if self.verdicts else "yes"
                self.probed.append([dict(m) for m in messages])
                return "The", self.declines.pop(0) if self.declines else None
        with self._lock:
            self.requests.append([dict(m) for m in messages])
            self.params.append(dict(optional_params or {}))
            failure = self.failures.pop(0) if self.failures else None
            if failure is None:
                answer = self.answers.pop(0) if self.answers else DEFAULT_ANSWER
        if failure == "timeout":
            raise litellm.Timeout(message="fake: timed out", model=FAKE_MODEL, llm_provider="fake")
        if failure == "broken_stream" and optional_params.get("stream"):
            return None
        if failure in ("server_error", "broken_stream"):
            raise litellm.InternalServerError(message="fake: boom", model=FAKE_MODEL, llm_provider="fake")
        if failure == "auth":
            raise litellm.AuthenticationError(
                message="fake: bad key sk-secret-123", model=FAKE_MODEL, llm_provider="fake"
            )
        if failure == "garbage":
            return ""
        return answer

    @staticmethod
    def _usage(messages: list, text: str) -> dict:
        prompt = sum(len(str(m.get("content", "")).split()) for m in messages) + 3
        completion = max(1, len(text.split())) if text else 0
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                   api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                   headers={}, timeout=None, client=None):
        text = self._next(messages, dict(optional_params, stream=False))
        if isinstance(text, tuple):
            text, decline = text
            if decline is not None:
                alternatives = [{"token": "I", "logprob": math.log(max(decline, 1e-9))},
                                {"token": "The", "logprob": math.log(max(1 - decline, 1e-9))}]
                # Given "I", the refusal goes on with " don't know.".
                following = [{"token": " don", "logprob": 0.0}]
                model_response.choices[0].logprobs = {"content": [dict(alternatives[0], top_logprobs=alternatives),
                                                                  dict(following[0], top_logprobs=following)]}
        model_response.choices[0].message.content = text
        model_response.choices[0].finish_reason = "stop"
        model_response.model = FAKE_MODEL
        setattr(model_response, "usage", litellm.Usage(**self._usage(messages, text)))
        return model_response

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                  api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                  headers={}, timeout=None, client=None) -> Iterator[GenericStreamingChunk]:
        text = self._next(messages, dict(optional_params, stream=True))  # most failures raise here, at connect
        if text is None:
            return self._stream("This answer brea", None, broken=True)
        return self._stream(text, self._usage(messages, text))

    def _stream(self, text: str, usage: dict | None, broken: bool = False) -> Iterator[GenericStreamingChunk]:
        finished = False
        try:
            for piece in split_deltas(text):
                if self.delay_s:
                    time.sleep(self.delay_s)
                self.deltas_sent += 1
                yield GenericStreamingChunk(text=piece, is_finished=False, finish_reason="", usage=None,
                                            index=0, tool_use=None)
            if broken:
                finished = True
                raise litellm.InternalServerError(message="fake: connection reset", model=FAKE_MODEL,
                                                  llm_provider="fake")
            finished = True
            yield GenericStreamingChunk(text="", is_finished=True, finish_reason="stop", usage=usage,
                                        index=0, tool_use=None)
        finally:
            if finished:
                self.streams_finished += 1
            else:
                self.streams_closed_early += 1

    async def acompletion(self, *args, **kwargs):
        return self.completion(*args, **kwargs)

    async def astreaming(self, *args, **kwargs):
        for chunk in self.streaming(*args, **kwargs):
            yield chunk


_instance: FakeLLM | None = None
_install_lock = threading.Lock()


def install_fake_llm() -> FakeLLM:
    """Register the provider "fake" (once) and return the process-wide FakeLLM, cleared."""
    global _instance
    with _install_lock:
        if _instance is None:
            _instance = FakeLLM()
        if not any(item.get("custom_handler") is _instance for item in litellm.custom_provider_map):
            litellm.custom_provider_map = [
                item for item in litellm.custom_provider_map if item.get("provider") != "fake"
            ] + [{"provider": "fake", "custom_handler": _instance}]
            custom_llm_setup()
        _instance.reset()
        return _instance
