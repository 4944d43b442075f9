"""Benchmark reading and indexing by format: the seed articles as text, PDF, HTML and Word, plus one
long PDF (the seeds printed several times over), each read and then indexed from scratch.

    .venv/bin/python evals/bench_formats.py [--repeat 8] [--json]

Reading is `rag.loaders.read_document` on every file (PDF, HTML and Word in their bounded child
process, as a build reads them). Indexing is a whole `Indexer.build` into a temp folder with the real
embedding model, loaded beforehand. Pages per second are given for PDFs. The corpora are made by
tests/format_parity.py (PDFs printed by headless Chromium). This is a benchmark: it prints numbers.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def _long_pdf(folder: Path, repeat: int) -> Path:
    """The five seed articles, `repeat` times over, printed as one PDF."""
    from pdf_corpus import print_pdf

    body = []
    for _ in range(repeat):
        for path in sorted((REPO / "seeds").glob("*.txt")):
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            body.append(f"<h1>{html.escape(lines[0])}</h1>" + "".join(f"<p>{html.escape(t)}</p>" for t in lines[1:]))
    folder.mkdir(parents=True, exist_ok=True)
    return print_pdf("<html><body>" + "".join(body) + "</body></html>", folder / "long.pdf")


def _measure(folder: Path, settings, embedder) -> dict:
    from rag.indexer import Indexer
    from rag.loaders import ReadLimits, read_document

    limits = ReadLimits(settings.max_file_bytes, settings.reader_timeout_s, settings.reader_memory_mb)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    started = time.perf_counter()
    docs = [read_document(path, path.name, limits) for path in files]
    read_s = time.perf_counter() - started
    pages = sum(len(d.pages) for d in docs if d is not None and d.pages)
    lines = sum(len(d.lines) for d in docs if d is not None)
    with tempfile.TemporaryDirectory() as index_dir:
        stats = Indexer(settings.model_copy(update={"index_dir": Path(index_dir)}), embedder).build([folder], progress=False)
    return {
        "files": len(files), "pages": pages, "lines": lines, "chunks": stats.chunks,
        "read_s": round(read_s, 3), "index_s": round(stats.seconds, 2),
        "read_pages_per_s": round(pages / read_s, 1) if pages else None,
        "index_pages_per_s": round(pages / stats.seconds, 2) if pages else None,
        "read_files_per_s": round(len(files) / read_s, 1),
        "index_files_per_s": round(len(files) / stats.seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=8, help="times the seeds are repeated in the long PDF")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from format_parity import build_corpora
    from rag.embedder import Embedder
    from rag.settings import Settings

    settings = Settings()
    embedder = Embedder(settings.embedding_model)
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory() as work:
        folders = build_corpora(REPO / "seeds", Path(work))
        folders["pdf (long)"] = _long_pdf(Path(work) / "long", args.repeat).parent
        rows = {name: _measure(folder, settings, embedder) for name, folder in folders.items()}
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| corpus | files | pages | lines | chunks | read s | read pages/s | read files/s | index s | index pages/s | index files/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['files']} | {r['pages'] or '-'} | {r['lines']} | {r['chunks']} | {r['read_s']} | "
              f"{r['read_pages_per_s'] or '-'} | {r['read_files_per_s']} | {r['index_s']} | {r['index_pages_per_s'] or '-'} | "
              f"{r['index_files_per_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
