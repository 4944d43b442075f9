"""The one place the service talks to a language model (through litellm).

`LLMClient.complete` returns a `Completion`; `LLMClient.stream` yields text deltas and
then exactly one `Completion`. Transient failures are retried with exponential backoff;
what finally escapes is a `ModelError` whose message is safe to show (provider and kind
of failure only: never an API key, a provider's raw message or a stack trace).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

# rag/llm/__init__.py (imported before this module) sets LITELLM_LOCAL_MODEL_COST_MAP.
import litellm
import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from rag.errors import ModelError
from rag.settings import Settings

log = logging.getLogger(__name__)

LOCAL_PREFIX = "local/"


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


class _EmptyReply(Exception):
    """The provider answered without any usable text (retried like a transient failure)."""


# Failures worth another try, and failures that will fail the same way again.
_PERMANENT = (
    litellm.AuthenticationError,
    litellm.PermissionDeniedError,
    litellm.BadRequestError,  # includes ContextWindowExceededError, ContentPolicyViolationError
    litellm.NotFoundError,
    litellm.UnprocessableEntityError,
    litellm.UnsupportedParamsError,
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
)
_TRANSIENT = (
    litellm.Timeout,
    litellm.APIConnectionError,
    litellm.RateLimitError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.RateLimitError,
    openai.InternalServerError,
    TimeoutError,
    ConnectionError,
    _EmptyReply,
)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, _TRANSIENT):
        return True
    status = _status(exc)
    if status is not None:
        return status == 408 or status == 429 or status >= 500
    return False


def describe_failure(exc: BaseException) -> str:
    """A short, safe description of what went wrong (no provider text, no secrets)."""
    status = _status(exc)
    if isinstance(exc, _EmptyReply):
        return "returned an empty reply"
    if isinstance(exc, (litellm.Timeout, openai.APITimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, (litellm.AuthenticationError, openai.AuthenticationError)):
        return "rejected the credentials (check the API key)"
    if isinstance(exc, (litellm.PermissionDeniedError, openai.PermissionDeniedError)):
        return "denied access to the model"
    if isinstance(exc, litellm.ContextWindowExceededError):
        return "could not fit the prompt in its context window"
    if isinstance(exc, litellm.ContentPolicyViolationError):
        return "refused the request (content policy)"
    if isinstance(exc, (litellm.NotFoundError, openai.NotFoundError)):
        return "does not know this model"
    if isinstance(exc, (litellm.UnsupportedParamsError,)):
        return "does not support a requested parameter"
    if isinstance(exc, (litellm.BadRequestError, openai.BadRequestError, litellm.UnprocessableEntityError)):
        return f"rejected the request (HTTP {status or 400})"
    if isinstance(exc, (litellm.RateLimitError, openai.RateLimitError)):
        return "is rate limiting requests"
    if isinstance(exc, (litellm.APIConnectionError, openai.APIConnectionError, ConnectionError)):
        return "could not be reached"
    if status is not None and status >= 500:
        return f"had a server error (HTTP {status})"
    if status is not None:
        return f"failed (HTTP {status})"
    return f"failed ({type(exc).__name__})"


class LLMClient:
    """Completions from `settings.llm_model` with retries; construction is cheap (no loading)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model: str = settings.llm_model
        self._local_ready = False

    # ------------------------------------------------------------------ public

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else self.model

    @property
    def is_local(self) -> bool:
        return self.model.startswith(LOCAL_PREFIX)

    def warm_up(self) -> None:
        """Load the local model now (assembling it on first use); a no-op for remote models."""
        if not self.is_local:
            return
        from rag.llm import local

        self._ensure_local()
        local.server_for_settings(self.settings)

    def complete(self, messages: list[dict]) -> Completion:
        return self._with_retries(lambda: self._to_completion(litellm.completion(messages=messages, **self._params()), messages))

    def first_tokens(self, messages: list[dict], count: int = 1, yes_no: bool = False) -> tuple[list[list[tuple[str, float]]], str]:
        """The first `count` tokens the model would write: for each, its (token, logprob)
        alternatives (each position given the greedy tokens before it), and the reply.

        No sampling. The local model is constrained to "yes" or "no" by a grammar when `yes_no`;
        it also keeps the prompt cached, so a generation with the same messages that follows
        costs no second prompt pass. A provider that gives no log-probabilities returns no
        alternatives, only its (few-token) reply.
        """
        if self.is_local:
            from rag.llm import local

            self._ensure_local()
            server = local.server_for_settings(self.settings)
            return self._with_retries(lambda: local.first_tokens(server, messages, count, yes_no))
        params = dict(self._params(), max_tokens=count, temperature=0.0, logprobs=True, top_logprobs=5)

        def ask() -> tuple[list[list[tuple[str, float]]], str]:
            response = litellm.completion(messages=messages, **params)
            choice = response.choices[0]
            steps = token_alternatives(getattr(choice, "logprobs", None))
            reply = (choice.message.content or "").strip()
            if not steps and not reply:
                raise _EmptyReply()
            return steps, reply

        return self._with_retries(ask)

    def yes_probability(self, messages: list[dict]) -> float:
        """The model's probability that the answer to a yes/no question is yes (first-token
        log-probabilities; a provider without them counts a "yes..." reply as 1.0, else 0.0)."""
        steps, reply = self.first_tokens(messages, yes_no=True)
        if steps:
            return round(yes_share(steps[0]), 6)
        return 1.0 if reply.lower().startswith("yes") else 0.0

    def decline_probability(self, messages: list[dict], opening: str) -> float:
        """The model's probability of starting its reply with the word `opening` ("I" of the
        refusal the prompt asks for, "I don't know.").

        A token is not a word: a small model spells a name it is unsure of letter by letter, so
        "Ivan Su ..." and "India ..." also begin with the token "I". When the likeliest first token
        is the opening, the second token's alternatives say how often it is the whole word (what
        follows starts with a space or a mark: " don't", "'m") rather than the start of one
        ("van"). A provider that gives no log-probabilities counts a reply opening with the word
        as 1.0, else 0.0."""
        steps, reply = self.first_tokens(messages, count=2)
        opening = opening.strip().lower()
        if not steps:
            first_word = re.match(r"\W*(\w+)", reply)
            return 1.0 if first_word and first_word.group(1).lower() == opening else 0.0
        first = steps[0]
        total = sum(math.exp(lp) for _, lp in first)
        share = sum(math.exp(lp) for token, lp in first if token.strip().lower() == opening) / total
        greedy = max(first, key=lambda pair: pair[1])[0]
        if share and greedy.strip().lower() == opening and len(steps) > 1:
            after = steps[1]
            whole = sum(math.exp(lp) for token, lp in after if not token[:1].isalnum())
            share *= whole / sum(math.exp(lp) for _, lp in after)
        return share

    def stream(self, messages: list[dict]) -> Iterator[str | Completion]:
        """Yield text deltas as they arrive, then one final `Completion`.

        A failure before the first delta is retried; after it, it ends the stream with a
        ModelError. Closing this generator early closes the provider stream, which stops
        the generation (for the local model: at its next token).
        """
        self._ensure_local()
        response, chunks, first, usage = self._retried(self._open_stream, messages)
        parts = [first]
        try:
            yield first
            for chunk in chunks:
                usage = getattr(chunk, "usage", None) or usage
                text = _delta_text(chunk)
                if text:
                    parts.append(text)
                    yield text
            full = "".join(parts)
            if not full.strip():
                raise _EmptyReply()
            yield self._completion(full, usage, messages)
        except (GeneratorExit, ModelError):
            raise
        except Exception as exc:  # noqa: BLE001 - after output there is no retrying
            log.warning("%s stream broke after partial output: %s", self.provider, describe_failure(exc))
            raise ModelError(f"language model {self.provider} {describe_failure(exc)} while answering") from None
        finally:
            _close_stream(response)

    def _open_stream(self, messages: list[dict]):
        """Open a stream and read up to its first text: (response, the rest, that text, usage so far).

        Failing here, before anything is shown, is retried; a stream with no text is an empty reply."""
        response = None
        try:
            response = litellm.completion(
                messages=messages, stream=True, stream_options={"include_usage": True}, **self._params()
            )
            chunks = iter(response)
            usage = None
            for chunk in chunks:
                usage = getattr(chunk, "usage", None) or usage
                text = _delta_text(chunk)
                if text:
                    return response, chunks, text, usage
            raise _EmptyReply()
        except BaseException:
            _close_stream(response)
            raise

    # ------------------------------------------------------------------ internals

    def _with_retries(self, call):
        self._ensure_local()
        return self._retried(call)

    def _retried(self, call, *args):
        """`call(*args)`, retried with exponential backoff while it fails transiently (tenacity);
        a failure that is not transient, or the last one, becomes a ModelError."""
        attempts = self.settings.llm_retries + 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self.settings.llm_retry_backoff_s),
            retry=retry_if_exception(lambda exc: not isinstance(exc, ModelError) and is_transient(exc)),
            before_sleep=lambda state: self._log_failure(state.outcome.exception(), state.attempt_number, f"retrying in {state.next_action.sleep:.2f} s"),
            reraise=True,
        )
        try:
            return retrying(call, *args)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - sorted by is_transient above; all end here
            made = retrying.statistics.get("attempt_number", 1)
            self._log_failure(exc, made, "giving up")
            tries = f" after {made} attempts" if made > 1 else ""
            raise ModelError(f"language model {self.provider} {describe_failure(exc)}{tries}") from None

    def _log_failure(self, exc: BaseException, attempt: int, then: str) -> None:
        log.warning(
            "language model %s %s (attempt %d of %d); %s",
            self.provider, describe_failure(exc), attempt, self.settings.llm_retries + 1, then,
        )
        log.debug("language model failure detail", exc_info=exc)

    def _ensure_local(self) -> None:
        if self.is_local and not self._local_ready:
            from rag.llm.local import register_local_provider

            register_local_provider(self.settings)
            self._local_ready = True

    def _params(self) -> dict:
        params = {
            "model": self.model,
            "temperature": self.settings.llm_temperature,
            "max_tokens": self.settings.llm_max_tokens,
            "timeout": self.settings.llm_timeout_s,
            "drop_params": True,  # a provider that lacks e.g. stream_options still answers
        }
        if self.settings.llm_api_base:
            params["api_base"] = self.settings.llm_api_base
        return params

    def _to_completion(self, response, messages: list[dict]) -> Completion:
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise _EmptyReply()
        return self._completion(text, getattr(response, "usage", None), messages)

    def counted(self, text: str, messages: list[dict]) -> Completion:
        """The completion of a stream read only in part (the caller stopped it): tokens counted here."""
        return self._completion(text, None, messages)

    def _completion(self, text: str, usage, messages: list[dict]) -> Completion:
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
        if prompt_tokens <= 0:
            prompt_tokens = self._count(messages=messages)
        if completion_tokens <= 0:
            completion_tokens = self._count(text=text)
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, model=self.model)

    def _count(self, **what) -> int:
        try:
            return int(litellm.token_counter(model=self.model, **what))
        except Exception:  # noqa: BLE001 - an estimate is all that is needed
            text = what.get("text") or " ".join(str(m.get("content", "")) for m in what.get("messages", []))
            return max(1, len(text) // 4)


def yes_share(alternatives: list[tuple[str, float]]) -> float:
    """P(yes) / (P(yes) + P(no)) over (token, logprob) alternatives of one position ("Yes", " no", ...)."""
    yes = sum(math.exp(lp) for token, lp in alternatives if token.strip().lower() == "yes")
    no = sum(math.exp(lp) for token, lp in alternatives if token.strip().lower() == "no")
    return yes / (yes + no) if yes + no > 0 else 0.0


def token_alternatives(logprobs) -> list[list[tuple[str, float]]]:
    """For each generated token, its (token, logprob) alternatives, from an OpenAI-shaped logprobs block."""
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if content is None and isinstance(logprobs, dict):
        content = logprobs.get("content")
    steps = []
    for position in content or []:
        top = getattr(position, "top_logprobs", None) if not isinstance(position, dict) else position.get("top_logprobs")
        pairs = []
        for item in top or [position]:
            token = item.get("token") if isinstance(item, dict) else getattr(item, "token", None)
            logprob = item.get("logprob") if isinstance(item, dict) else getattr(item, "logprob", None)
            if isinstance(token, str) and isinstance(logprob, (int, float)):
                pairs.append((token, float(logprob)))
        if not pairs:
            break
        steps.append(pairs)
    return steps


def _delta_text(chunk) -> str | None:
    if not chunk.choices:
        return None
    delta = chunk.choices[0].delta
    return getattr(delta, "content", None) if delta is not None else None


def _close_stream(response) -> None:
    """Close litellm's stream wrapper so the provider stops generating.

    litellm's CustomStreamWrapper has only an async `aclose`; the provider stream it wraps
    (`completion_stream`: our generator for the local model, an HTTP stream for remote ones)
    has a sync `close`.
    """
    if response is None:
        return
    inner = getattr(response, "completion_stream", None)
    for target in (inner, response):
        close = getattr(target, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - best effort
                log.debug("closing the model stream failed", exc_info=True)
            return
