"""Running one reader in a forked child process, bounded in time and address space.

A malformed PDF can make a parser loop, recurse or allocate without end, and a C library can crash;
in a child none of that reaches the build: the file is skipped with the reason and the build goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import signal
from collections.abc import Callable

from rag.loaders.document import Document, Unreadable

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _child(reader: Callable[[bytes, str], Document], data: bytes, source: str, memory_mb: int, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    try:
        with open("/proc/self/statm") as handle:
            mapped = int(handle.read().split()[0]) * _PAGE  # what the fork already maps counts too
        limit = mapped + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass
    try:
        result = ("ok", reader(data, source))
    except Unreadable as exc:
        result = ("unreadable", exc)
    except MemoryError:
        result = ("unreadable", Unreadable(f"reading it needs more than {memory_mb} MB"))
    except RecursionError:
        result = ("unreadable", Unreadable("it is nested too deeply to read"))
    except Exception as exc:  # a parser's own error on a malformed file: the reason, not a trace
        result = ("unreadable", Unreadable(f"malformed ({type(exc).__name__}: {str(exc)[:160]})"))
    try:
        conn.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    except MemoryError:
        conn.send_bytes(pickle.dumps(("unreadable", Unreadable(f"its text needs more than {memory_mb} MB"))))
    finally:
        conn.close()


def read_bounded(reader: Callable[[bytes, str], Document], data: bytes, source: str, timeout_s: float,
                 memory_mb: int) -> Document:
    """reader(data, source) in a child: its Document, or Unreadable when it fails, crashes, or runs
    past timeout_s or memory_mb."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(reader, data, source, memory_mb, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise Unreadable(f"reading it took longer than {timeout_s:g} s")
        try:
            status, value = pickle.loads(receiver.recv_bytes())
        except (EOFError, OSError):
            process.join(1)
            code = process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
            raise Unreadable(f"the reader stopped on it ({how})") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if status != "ok":
        raise value
    return value
