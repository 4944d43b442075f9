"""The seed articles as PDF, HTML and Word, and the seeds golden set mapped onto each version.

Gold evidence names lines of the .txt articles. Here it is mapped, by the words those lines hold, to
the lines (and pages) that the index's own readers make of each version, so retrieval and answers
can be compared across formats with no hand-made labels. Run as a script for the README rows:

    .venv/bin/python tests/format_parity.py [--answers] [--limit N] [--out evals/reports/formats]
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import shutil
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.loaders import Document, read_document  # noqa: E402
from rag.text import join_wrapped  # noqa: E402

FORMATS = ("txt", "pdf", "html", "docx")
_WORD = re.compile(r"\w+")


def build_corpora(seeds_dir: Path, out_dir: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """One folder per format holding every seed article in it (named as the .txt, another extension)."""
    from office_corpus import seed_docx, seed_html
    from pdf_corpus import seed_pdfs

    makers = {"pdf": seed_pdfs, "html": seed_html, "docx": seed_docx}
    folders = {}
    for fmt in formats:
        folder = out_dir / fmt
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "txt":
            for path in sorted(seeds_dir.glob("*.txt")):
                shutil.copy2(path, folder / path.name)
        else:
            makers[fmt](seeds_dir, folder)
        folders[fmt] = folder
    return folders


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _word_lines(doc: Document) -> tuple[list[str], list[int]]:
    """Every word of a document with the (document) line it is on; wrapped paragraphs joined first,
    so a word a PDF hyphenated across lines is one word."""
    words, lines = [], []
    number = 1
    while number <= len(doc.lines):
        last = number
        while doc.wrapped and last < len(doc.lines) and doc.wrapped[last]:
            last += 1
        text, parts = join_wrapped(doc.lines[number - 1 : last])
        starts = [start for start, _ in parts]
        for match in _WORD.finditer(text):
            for word in _words(match.group()):
                words.append(word)
                lines.append(number + bisect.bisect_right(starts, match.start()) - 1)
        number = last + 1
    return words, lines


def _find(words: list[str], wanted: list[str]) -> int | None:
    n = len(wanted)
    first = wanted[0]
    for i in range(len(words) - n + 1):
        if words[i] == first and words[i : i + n] == wanted:
            return i
    return None


def _located(doc: Document, start: int, end: int) -> list[dict]:
    """Evidence for document lines start..end: one entry per page they lie on (a span never crosses pages)."""
    if not doc.pages:
        return [{"lines": [start, end]}]
    out = []
    for page in doc.pages:
        low, high = max(start, page.first_line), min(end, page.first_line + page.line_count - 1)
        if low <= high:
            out.append({"page": page.number, "lines": [low - page.first_line + 1, high - page.first_line + 1]})
    return out


def map_evidence(evidence: dict, txt_lines: list[str], doc: Document, source: str) -> list[dict]:
    """The spans of `doc` that hold the words of a .txt evidence span."""
    if evidence.get("lines") is None:
        return [{"source": source, "lines": None}]
    start, end = evidence["lines"]
    wanted = _words(" ".join(txt_lines[start - 1 : end]))
    if not wanted:
        raise ValueError(f"{evidence} holds no words")
    words, lines = _word_lines(doc)
    at = _find(words, wanted)
    if at is None:  # the reader changed a word inside: place it by its first and last words
        head, tail = _find(words, wanted[:6]), _find(words, wanted[-6:])
        if head is None or tail is None or tail < head:
            raise ValueError(f"the words of {evidence['source']}:{start}-{end} are not in {source}")
        first, last = lines[head], lines[tail + min(6, len(wanted)) - 1]
    else:
        first, last = lines[at], lines[at + len(wanted) - 1]
    return [{"source": source, **span} for span in _located(doc, first, last)]


def map_golden(golden: Path, seeds_dir: Path, corpus: Path, suffix: str, out: Path) -> Path:
    """The golden set with its evidence moved onto the `suffix` versions in `corpus`."""
    docs: dict[str, Document] = {}
    txt: dict[str, list[str]] = {}
    rows = []
    for line in golden.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        mapped = []
        for ev in row.get("evidence") or []:
            name = Path(ev["source"]).stem + suffix
            if name not in docs:
                doc = read_document(corpus / name, name, 20_000_000)
                if doc is None:
                    raise ValueError(f"{name} could not be read")
                docs[name] = doc
                txt[ev["source"]] = (seeds_dir / ev["source"]).read_text(encoding="utf-8").split("\n")
            mapped.extend(map_evidence(ev, txt[ev["source"]], docs[name], name))
        rows.append({**row, "evidence": mapped})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def main() -> int:
    from rag.evaluation.runner import run_eval
    from rag.service import RagService
    from rag.settings import PROJECT_ROOT, Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", action="store_true", help="answer with the real model (slow), not retrieval only")
    parser.add_argument("--limit", type=int, help="first N questions")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-format-parity"))
    parser.add_argument("--out", type=Path, help="write each format's report.json here")
    args = parser.parse_args()
    seeds, golden = PROJECT_ROOT / "seeds", PROJECT_ROOT / "evals" / "golden" / "seeds.jsonl"
    folders = build_corpora(seeds, args.work, tuple(args.formats.split(",")))
    service = RagService(Settings())
    rows = []
    for fmt, folder in folders.items():
        mapped = golden if fmt == "txt" else map_golden(golden, seeds, folder, f".{fmt}", args.work / f"golden-{fmt}.jsonl")
        report = run_eval(service, mapped, folder, retrieval_only=not args.answers, limit=args.limit, progress=False)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"report-{fmt}.json").write_text(json.dumps(report, indent=1))
        rows.append((fmt, report))
    print(json.dumps({fmt: report["metrics"] for fmt, report in rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
