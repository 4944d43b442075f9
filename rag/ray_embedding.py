"""Embed many documents with Ray Data over a pool of actors.

Each actor loads the embedding model once and then encodes batch after batch, so a
corpus pays for `ray_actors` model loads, not one per batch or task. The actors run
the same rag.embedder.Embedder.encode as the in-process path, so the vectors are the
same (up to float rounding from different padding within a batch); rows come back
in the order of the texts given.

With no RAY_ADDRESS a local Ray is started on this machine and left running for the
process (a later build skips the start-up); with RAY_ADDRESS set, that cluster is
joined, and its workers must be able to import `rag` and the model package.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag import errors
from rag.errors import ConfigError, IndexWriteError, RagError, import_extra

if TYPE_CHECKING:
    from rag.settings import Settings

def _ray():
    ray = import_extra("ray", "scale", "embedding on Ray")
    import_extra("ray.data", "scale", "embedding on Ray")
    return ray


def ensure_ray() -> bool:
    """Connect to Ray unless this process already is; True when this call started it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
    except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ValueError...
        where = f"the Ray cluster at {address} (RAY_ADDRESS)" if address else "a local Ray"
        raise ConfigError(f"could not start or reach {where}: {_first_line(exc)}") from None
    # Ray Data logs every execution's plan and progress to the console at INFO; keep only warnings.
    for handler in logging.getLogger("ray.data").handlers:
        if handler.name == "console":
            handler.setLevel(logging.WARNING)
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds on a wrong RAY_ADDRESS: ray.init retries an unreachable one for minutes."""
    import socket

    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():  # "auto", "local", ...: Ray resolves those itself
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"the Ray cluster at {address} (RAY_ADDRESS) is unreachable: {exc}") from None


class _EmbedActor:
    """One model per actor, loaded in __init__; __call__ encodes one batch."""

    def __init__(self, model: str, batch_size: int, cache_dir: str, threads: int):
        import torch

        # Before the model loads: actors sharing a machine must not each use every core.
        torch.set_num_threads(threads)
        from rag.embedder import Embedder

        self.embedder = Embedder(model, batch_size, cache_dir=cache_dir, query_cache_size=0)
        _ = self.embedder.model

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"i": batch["i"], "vector": self.embedder.encode(batch["text"].tolist())}


def embed_on_ray(texts: Sequence[str], settings: Settings) -> np.ndarray:
    """Vectors for `texts` (float32, one row per text, in order), computed on Ray actors."""
    from rag.embedder import Embedder

    dim = Embedder(settings.embedding_model, settings.embedding_batch_size, cache_dir=settings.model_cache_dir).dim
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    ray = _ray()
    ensure_ray()
    import pyarrow as pa

    n, actors = len(texts), settings.ray_actors
    threads = _threads_per_actor(ray, actors)
    # Texts of like length in one batch: sentence-transformers pads a batch to its longest
    # text (in-process it sorts the whole corpus by length; unsorted blocks ran 2-3 x slower).
    # Longest first, so that the blocks left when some actors are already idle are short.
    cost = np.minimum(np.fromiter(map(len, texts), dtype=np.int64, count=n), _TRUNCATED_CHARS) + 20
    order = np.argsort(-cost, kind="stable")
    table = pa.table({"i": pa.array(order), "text": pa.array([texts[i] for i in order], pa.large_string())})
    # from_arrow puts each slice in the object store on its own: a large corpus is not
    # pickled as one object, and Arrow slices serialise without copying rows into Python.
    bounds = _block_bounds(cost[order], actors, settings.embedding_batch_size * 8)
    blocks = [table.slice(start, stop - start) for start, stop in bounds]

    out = np.empty((n, dim), dtype=np.float32)
    filled = np.zeros(n, dtype=bool)
    try:
        dataset = ray.data.from_arrow(blocks).map_batches(
            _EmbedActor,
            fn_constructor_kwargs={
                "model": settings.embedding_model,
                "batch_size": settings.embedding_batch_size,
                "cache_dir": str(settings.model_cache_dir),
                "threads": threads,
            },
            batch_size=None,  # one block, one batch: the blocks are already cut to size
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=threads,
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            index = batch["i"]
            out[index] = batch["vector"]
            filled[index] = True
    except Exception as exc:  # noqa: BLE001 - actor death, lost nodes, user errors wrapped by Ray
        raise _as_rag_error(exc) from None
    if not filled.all():
        raise IndexWriteError(f"embedding on Ray lost {int((~filled).sum())} of {n} texts")
    return np.ascontiguousarray(out, dtype=np.float32)


# Beyond about this many characters the model's 256-token window truncates: no more work.
_TRUNCATED_CHARS = 1500


def _block_bounds(costs: np.ndarray, actors: int, max_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of blocks holding about equal work, 8 per actor so that the actors
    finish close together, and at most max_rows texts each."""
    done = np.cumsum(costs)
    per_block = max(1, math.ceil(int(done[-1]) / (actors * 8)))
    share = (done - 1) // per_block
    starts = [0, *(np.flatnonzero(np.diff(share)) + 1).tolist(), len(costs)]
    return [
        (a, min(a + max_rows, stop)) for start, stop in zip(starts, starts[1:]) for a in range(start, stop, max_rows)
    ]


def _threads_per_actor(ray, actors: int) -> int:
    """CPUs (and torch threads) for one actor: the cluster's CPUs shared out, but no more
    than one node has, or the actor could never be placed."""
    nodes = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    total = sum(nodes) or (os.cpu_count() or 1)
    largest = max(nodes, default=total) or total
    return max(1, int(min(largest, total // actors)))


# "module.Name: message", the line of a traceback's text that names an exception.
_RAISED = re.compile(r"^((?:\w+\.)*(\w*(?:Error|Exception|Error_))): (.+)$")


def _as_rag_error(exc: BaseException) -> RagError:
    """One short line for a Ray failure. Ray hands back only the text of an actor's error, so
    the first exception named in it that is not Ray's own is the cause; a RagError (a missing
    model, say) comes back as itself."""
    for line in _lines(exc):
        match = _RAISED.match(line)
        if match and not match.group(1).startswith("ray."):
            qualified, name, message = match.groups()
            kind = getattr(errors, name, None) if qualified.startswith("rag.errors.") else None
            if isinstance(kind, type) and issubclass(kind, RagError):
                error = kind.__new__(kind)  # subclasses' __init__ take other arguments than the message
                RagError.__init__(error, message)
                return error
            return IndexWriteError(f"embedding on Ray failed: {name}: {_clip(message)}")
    return IndexWriteError(f"embedding on Ray failed: {_first_line(exc)}")


def _lines(exc: BaseException) -> list[str]:
    """The error's text without blank lines or terminal colours (Ray's carry tracebacks)."""
    return [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]


def _first_line(exc: BaseException) -> str:
    lines = _lines(exc)
    return _clip(lines[0] if lines else type(exc).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."
