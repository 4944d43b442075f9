"""The offline default model run in-process by xllamacpp: loaded once per process and
reached through litellm as the custom provider "local".

The model file is the packaged GGUF (rag.llm.packaged joins it on first use) or any GGUF
named by `local_model_path`.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# rag/llm/__init__.py (always imported first) sets LITELLM_LOCAL_MODEL_COST_MAP before this import.
import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk
from litellm.utils import custom_llm_setup

from rag.errors import ConfigError
from rag.llm.packaged import is_assembled, packaged_model_path

PROVIDER = "local"


# --------------------------------------------------------------------------- the loaded model

_servers: dict[Path, Any] = {}
_servers_lock = threading.Lock()
load_count = 0  # models loaded by this process (tests check that a second client does not reload)
last_load_s: float | None = None


def get_local_server(model_path: Path, n_ctx: int, n_threads: int, n_parallel: int):
    """Return the process-wide `xllamacpp.Server` for `model_path`, loading it on first use.

    `n_ctx` is the context window of each generation: llama.cpp splits its context
    between parallel slots, so the server is given n_ctx * n_parallel in all.
    Later calls with other sizes get the already-loaded server (one copy per file).
    """
    global load_count, last_load_s
    key = Path(model_path).resolve()
    server = _servers.get(key)
    if server is not None:
        return server
    with _servers_lock:
        server = _servers.get(key)
        if server is not None:
            return server
        if not key.is_file():
            raise ConfigError(f"local model file {model_path} does not exist")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(key)
        params.n_parallel = max(1, int(n_parallel))
        params.n_ctx = int(n_ctx) * params.n_parallel
        params.cpuparams.n_threads = int(n_threads)
        params.cpuparams_batch.n_threads = int(n_threads)
        params.verbosity = -1
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # llama.cpp reports a bad file as a generic runtime error
            raise ConfigError(f"cannot load the local model {model_path}: {exc}") from None
        last_load_s = time.perf_counter() - started
        load_count += 1
        _servers[key] = server
        return server


def is_loaded(model_path: Path) -> bool:
    return Path(model_path).resolve() in _servers


def resolve_model_path(settings) -> Path:
    """The GGUF the settings ask for: `local_model_path`, else the packaged model (assembled if needed)."""
    if settings.local_model_path is not None:
        path = Path(settings.local_model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"local_model_path {path} (RAG_LOCAL_MODEL_PATH) is not a file")
        return path
    return packaged_model_path(settings.model_cache_dir)


def assembles_on_load(settings) -> bool:
    """Whether loading the model first joins the packaged file (a first start: seconds more)."""
    return settings.local_model_path is None and not is_assembled(settings.model_cache_dir)


def server_for_settings(settings):
    return get_local_server(
        resolve_model_path(settings),
        n_ctx=settings.local_context_tokens,
        n_threads=settings.local_threads,
        n_parallel=settings.local_parallel,
    )


# --------------------------------------------------------------------------- streaming bridge

_DONE = object()
_active: set = set()
_active_lock = threading.Lock()


def active_generations() -> int:
    """Generations still running on the local model (a closed stream drops out within a token)."""
    with _active_lock:
        return len(_active)

# Request fields passed through to llama.cpp's OpenAI-compatible handler.
_PASSTHROUGH = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "presence_penalty", "frequency_penalty", "response_format", "n_probs",
)


_YES_NO = 'root ::= "yes" | "no"'


def first_tokens(server, messages: list[dict], count: int = 1, yes_no: bool = False) -> tuple[list[list[tuple[str, float]]], str]:
    """The first `count` tokens' (token, logprob) alternatives and the reply (no sampling).

    The prompt stays in the slot's cache, so a generation with the same messages right after
    costs no second prompt pass."""
    from rag.llm.client import token_alternatives

    payload = {"messages": messages, "temperature": 0.0, "max_tokens": count, "logprobs": True, "top_logprobs": 8}
    if yes_no:
        payload["grammar"] = _YES_NO
    reply = server.handle_chat_completions(payload)
    if isinstance(reply, dict) and "error" in reply and "choices" not in reply:
        _raise_for_error(reply, PROVIDER)
    choice = reply["choices"][0]
    return token_alternatives(choice.get("logprobs")), (choice.get("message") or {}).get("content") or ""


def _raise_for_error(error: dict, model: str) -> None:
    info = error.get("error", error) if isinstance(error, dict) else {}
    code = int(info.get("code") or 500) if str(info.get("code", "")).isdigit() else 500
    message = f"local model: {info.get('message') or 'unknown error'}"
    kind = info.get("type") or ""
    if kind == "exceed_context_size_error":
        raise litellm.ContextWindowExceededError(message=message, model=model, llm_provider=PROVIDER)
    if 400 <= code < 500:
        raise litellm.BadRequestError(message=message, model=model, llm_provider=PROVIDER)
    raise litellm.InternalServerError(message=message, model=model, llm_provider=PROVIDER)


class _Generation:
    """One streamed generation run on a worker thread; chunks arrive through a queue.

    Iterate it for the server's raw chunk dicts. `cancel()` (also called on close and on
    timeout) makes the server callback return True, which ends the llama.cpp task at the
    next token.
    """

    def __init__(self, server, payload: dict, timeout_s: float | None, model: str):
        self._server = server
        self._payload = dict(payload, stream=True, stream_options={"include_usage": True})
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._timeout_s = timeout_s
        self._model = model
        self._thread = threading.Thread(target=self._run, name="local-llm-generation", daemon=True)
        with _active_lock:
            _active.add(self)
        self._thread.start()

    def _callback(self, chunk: dict) -> bool:
        if self._cancel.is_set():
            return True
        self._queue.put(chunk)
        return self._cancel.is_set()

    def _run(self) -> None:
        try:
            self._server.handle_chat_completions(self._payload, self._callback)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._queue.put(exc)
        finally:
            with _active_lock:
                _active.discard(self)
            self._queue.put(_DONE)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def __iter__(self) -> Iterator[dict]:
        deadline = None if not self._timeout_s else time.monotonic() + float(self._timeout_s)
        try:
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    raise litellm.Timeout(
                        message=f"local model: no reply within {self._timeout_s:g} s",
                        model=self._model, llm_provider=PROVIDER,
                    ) from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, ValueError):
                        raise litellm.BadRequestError(
                            message=f"local model: {item}", model=self._model, llm_provider=PROVIDER
                        ) from None
                    raise litellm.InternalServerError(
                        message=f"local model: {item}", model=self._model, llm_provider=PROVIDER
                    ) from None
                if isinstance(item, dict) and "error" in item and "choices" not in item:
                    _raise_for_error(item, self._model)
                yield item
        finally:
            self.cancel()


def _usage_block(usage: dict | None) -> dict | None:
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --------------------------------------------------------------------------- litellm provider


class LocalProvider(CustomLLM):
    """litellm provider "local": OpenAI-shaped requests answered by the in-process model."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings

    # ---- helpers
    def _server(self):
        return server_for_settings(self.settings)

    @staticmethod
    def _payload(messages: list, optional_params: dict) -> dict:
        payload: dict[str, Any] = {"messages": list(messages)}
        for key in _PASSTHROUGH:
            value = optional_params.get(key)
            if value is not None:
                payload[key] = value
        if "max_completion_tokens" in payload and "max_tokens" not in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    @staticmethod
    def _timeout(timeout) -> float | None:
        if timeout is None:
            return None
        if isinstance(timeout, (int, float)):
            return float(timeout)
        read = getattr(timeout, "read", None)  # httpx.Timeout
        return float(read) if read else None

    def _start(self, model, messages, optional_params, timeout) -> _Generation:
        return _Generation(self._server(), self._payload(messages, optional_params), self._timeout(timeout), model)

    def _generate(self, model, messages, optional_params, timeout) -> Iterator[GenericStreamingChunk]:
        return self._chunks(self._start(model, messages, optional_params, timeout))

    @staticmethod
    def _chunks(generation: _Generation) -> Iterator[GenericStreamingChunk]:
        """Text deltas as they are produced, then one finishing chunk carrying the usage."""
        finish_reason = None
        usage = None
        index = 0
        try:
            for chunk in generation:
                if chunk.get("usage"):
                    usage = _usage_block(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content") or ""
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                    if text:
                        yield GenericStreamingChunk(
                            text=text, is_finished=False, finish_reason="", usage=None,
                            index=index, tool_use=None,
                        )
            yield GenericStreamingChunk(
                text="", is_finished=True, finish_reason=finish_reason or "stop", usage=usage,
                index=index, tool_use=None,
            )
        finally:
            generation.cancel()

    # ---- litellm entry points
    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                   encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                   logger_fn=None, headers={}, timeout=None, client=None):
        parts: list[str] = []
        finish_reason = "stop"
        usage = None
        for chunk in self._generate(model, messages, optional_params, timeout):
            parts.append(chunk["text"])
            if chunk["is_finished"]:
                finish_reason = chunk["finish_reason"]
                usage = chunk["usage"]
        model_response.choices[0].message.content = "".join(parts)
        model_response.choices[0].finish_reason = finish_reason
        model_response.model = f"{PROVIDER}/{model}"
        if usage is None:
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        setattr(model_response, "usage", litellm.Usage(**usage))
        return model_response

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                  encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                  logger_fn=None, headers={}, timeout=None, client=None):
        return self._generate(model, messages, optional_params, timeout)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                          encoding, api_key, logging_obj, optional_params, acompletion=None,
                          litellm_params=None, logger_fn=None, headers={}, timeout=None, client=None):
        return await asyncio.to_thread(
            self.completion, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
            encoding, api_key, logging_obj, optional_params, acompletion, litellm_params, logger_fn,
            headers, timeout, client,
        )

    async def astreaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                         encoding, api_key, logging_obj, optional_params, acompletion=None,
                         litellm_params=None, logger_fn=None, headers={}, timeout=None, client=None):
        # Loading (and first-time assembly) blocks: keep it off the event loop.
        generation = await asyncio.to_thread(self._start, model, messages, optional_params, timeout)
        sync_gen = self._chunks(generation)
        try:
            while True:
                chunk = await asyncio.to_thread(next, sync_gen, _DONE)
                if chunk is _DONE:
                    return
                yield chunk
        finally:
            generation.cancel()  # stops llama.cpp at its next token, even if a worker is still in next()
            with contextlib.suppress(ValueError):  # "generator already executing" after a cancelled await
                sync_gen.close()


_register_lock = threading.Lock()


def register_local_provider(settings) -> LocalProvider:
    """Register (once) the litellm provider "local"; later calls update its settings.

    Then `litellm.completion(model="local/qwen2.5-coder-1.5b-instruct", ...)` runs the
    in-process model, streaming included. Returns the provider instance.
    """
    with _register_lock:
        for item in litellm.custom_provider_map:
            if item.get("provider") == PROVIDER and isinstance(item.get("custom_handler"), LocalProvider):
                item["custom_handler"].settings = settings
                return item["custom_handler"]
        handler = LocalProvider(settings)
        litellm.custom_provider_map = [
            item for item in litellm.custom_provider_map if item.get("provider") != PROVIDER
        ] + [{"provider": PROVIDER, "custom_handler": handler}]
        custom_llm_setup()
        return handler
