"""Exceptions whose messages are safe and useful to show a user.

Every error the service raises on purpose derives from RagError; the CLI prints
`str(error)` as one line and the API maps `http_status` to the response code.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: the message is written for the person using the product."""

    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RagError):
    """A setting is missing or invalid, or an optional backend is not installed."""

    http_status = 500


class InputError(RagError):
    """The user's request is invalid (empty question, bad path, out-of-range value)."""

    http_status = 400


class CorpusError(InputError):
    """The folder to index is missing or holds no readable documents."""


class SourceNotFoundError(InputError):
    """A source path that is not in the index was asked for."""

    http_status = 404


class SourceChangedError(RagError):
    """The file behind an indexed source was changed or removed since it was indexed."""

    http_status = 409


class IndexError_(RagError):
    """Base for problems with the index on disk (named to avoid the builtin)."""

    http_status = 503


class IndexNotFoundError(IndexError_):
    def __init__(self, index_dir: str, command: str | None = None):
        super().__init__(f"no index at {index_dir}: build one with `{command or f'rag index PATH --index-dir {index_dir}'}`")


class IndexCorruptError(IndexError_):
    def __init__(self, index_dir: str, reason: str):
        super().__init__(f"the index at {index_dir} is unreadable ({reason}): rebuild it with `rag index`")


class IndexIncompatibleError(IndexError_):
    """The index was built with another embedding model or format version."""


class IndexWriteError(IndexError_):
    """Writing a new index failed; the previous index is still in place."""


class StoreUnavailableError(IndexError_):
    """The index store (a Milvus server) cannot be reached or refused a request."""

    http_status = 503


class ModelError(RagError):
    """The language model provider failed (timeout, error, unusable output)."""

    http_status = 502


class OverloadedError(RagError):
    """Too many generations are running or waiting; retry later."""

    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 5):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def import_extra(module: str, extra: str, purpose: str):
    """Import an optional backend, or say which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{purpose} needs the `{extra}` extra: pip install 'rag-lines[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
        ) from None
