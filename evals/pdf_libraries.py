"""Which PDF library reads text best: each candidate extracts the PDFs of the test corpus
(tests/pdf_corpus.py, printed by headless Chromium), scored against the text they were printed from.

    .venv/bin/python evals/pdf_libraries.py [--corpus DIR] [--repeat N]

--corpus: a folder to build the corpus in, or where an earlier run built it (reused when there).
Prints a Markdown table, one row per extractor:

- seeds: word-sequence similarity (difflib ratio over words) of the five seed articles, as the
  articles' text (every line joined with rag.text.join_wrapped; mean over the articles);
- 2 columns: the same similarity on the two-column PDF (CSS columns, which Chromium draws column
  after column), and whether its columns were read one after the other (similarity >= 0.98) or
  interleaved; "drawn row by row": the same on two columns of placed lines that the file draws
  left line, right line, left line... (as some producers do);
- hyphenated: the share of the hyphenated PDF's long words that come back whole after join_wrapped;
- headers: how many of the header-and-footer PDF's running header and footer lines are kept;
- s/page: seconds per page over every text PDF of the corpus (best of --repeat runs).
"""

from __future__ import annotations

import argparse
import difflib
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pdf_corpus  # noqa: E402
from rag.loaders.pdf import clean_line  # noqa: E402
from rag.text import join_wrapped  # noqa: E402

# Each extractor: PDF path -> its pages, each a list of text lines. The raw libraries' lines go through
# the reader's own line cleanup (rag.loaders.pdf.clean_line: hyphen marks at line ends made "-",
# whitespace collapsed), so that the table compares what the libraries find, not how they spell it.
Extractor = Callable[[Path], list[list[str]]]


def cleaned(page_text: str) -> list[str]:
    return [clean_line(line) for line in page_text.splitlines()]


def pypdfium2_text(path: Path) -> list[list[str]]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        return [cleaned(page.get_textpage().get_text_range()) for page in pdf]
    finally:
        pdf.close()


def rag_read_pdf(path: Path) -> list[list[str]]:
    from rag.loaders.pdf import read_pdf

    doc = read_pdf(path.read_bytes(), path.name)
    return [doc.lines[page.first_line - 1: page.first_line - 1 + page.line_count] for page in doc.pages]


def pdfplumber_text(path: Path) -> list[list[str]]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [cleaned(page.extract_text() or "") for page in pdf.pages]


def pdfminer_layout_text(path: Path) -> list[list[str]]:
    from pdfminer.high_level import extract_text
    from pdfminer.layout import LAParams

    return [cleaned(page) for page in extract_text(path, laparams=LAParams()).split("\f")[:-1]]


def pypdf_text(path: Path) -> list[list[str]]:
    from pypdf import PdfReader

    return [cleaned(page.extract_text()) for page in PdfReader(path).pages]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# (label, package, extractor, licence: given once per package)
EXTRACTORS: list[tuple[str, str, Extractor, str]] = [
    ("`get_text_range`", "pypdfium2", pypdfium2_text, "Apache-2.0 / BSD-3-Clause (PDFium: BSD-3-Clause)"),
    ("+ `rag.loaders.pdf`", "pypdfium2", rag_read_pdf, ""),
    ("`extract_text`", "pdfplumber", pdfplumber_text, "MIT (pdfminer.six: MIT)"),
    ("`extract_text(laparams=LAParams())`", "pdfminer.six", pdfminer_layout_text, "MIT"),
    ("`extract_text`", "pypdf", pypdf_text, "BSD-3-Clause"),
]


def words_of(pages: list[list[str]]) -> list[str]:
    """The text as words: every line joined as one paragraph would be (hyphenated words made whole)."""
    text, _ = join_wrapped([line for lines in pages for line in lines if line.strip()])
    return text.split()


def similarity(got: list[str], want: list[str]) -> float:
    return difflib.SequenceMatcher(None, got, want, autojunk=False).ratio()


def whole_words(got: list[str], want: list[str], long_words: set[str]) -> float:
    """Of the long words in want, the share found whole in got (counted per word, at most as often)."""
    def count(words: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for word in words:
            word = re.sub(r"\W", "", word).lower()
            if word in long_words:
                out[word] = out.get(word, 0) + 1
        return out

    found, wanted = count(got), count(want)
    return sum(min(found.get(word, 0), n) for word, n in wanted.items()) / sum(wanted.values())


def running_lines_kept(pages: list[list[str]]) -> tuple[int, int]:
    """How many header and footer lines of the header-and-footer PDF are in the text, and how many it has."""
    footer = re.compile(r"page \d+ of \d+", re.I)
    header = pdf_corpus.HEADER_TEXT.lower()
    kept = sum(1 for lines in pages for line in lines for _ in range(len(footer.findall(line))))
    kept += sum(line.lower().count(header) for lines in pages for line in lines)
    return kept, 2 * len(pages)


def build(corpus_dir: Path) -> dict[str, Path]:
    names = ["two_column", "interleaved_columns", "header_footer", "hyphenated"]
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    wanted = [corpus_dir / f"{name}.pdf" for name in names] + [corpus_dir / "seeds" / f"{s.stem}.pdf" for s in seeds]
    if not all(path.is_file() for path in wanted):
        corpus_dir.mkdir(parents=True, exist_ok=True)
        with pdf_corpus.pdf_printer() as printer:
            pdf_corpus.two_column_pdf(corpus_dir / "two_column.pdf", printer)
            pdf_corpus.interleaved_columns_pdf(corpus_dir / "interleaved_columns.pdf", printer)
            pdf_corpus.header_footer_pdf(corpus_dir / "header_footer.pdf", printer)
            pdf_corpus.hyphenated_pdf(corpus_dir / "hyphenated.pdf", printer)
            pdf_corpus.seed_pdfs(ROOT / "seeds", corpus_dir / "seeds", printer)
    return dict(zip(names + [f"seed:{s.stem}" for s in seeds], wanted))


def paragraph_words(paragraphs: list[str]) -> list[str]:
    return " ".join(paragraphs).split()


def evaluate(corpus: dict[str, Path], repeat: int) -> list[dict]:
    import pypdfium2

    seeds = {name: ROOT / "seeds" / f"{name[5:]}.txt" for name in corpus if name.startswith("seed:")}
    pages = sum(len(pypdfium2.PdfDocument(path)) for path in corpus.values())
    long_words = {word.lower() for word in pdf_corpus.HYPHENATED_WORDS}
    rows = []
    for label, package, extract, _ in EXTRACTORS:
        label = f"{package} {_version(package)} {label}"
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            texts = {name: extract(path) for name, path in corpus.items()}
            best = min(best, time.perf_counter() - started)
        seed_scores = [similarity(words_of(texts[name]), paragraph_words(pdf_corpus.seed_paragraphs(txt)))
                       for name, txt in seeds.items()]
        two_columns = similarity(words_of(texts["two_column"]), paragraph_words(pdf_corpus.TWO_COLUMN_PARAGRAPHS))
        left, right = pdf_corpus.INTERLEAVED_COLUMNS
        interleaved = similarity(words_of(texts["interleaved_columns"]), paragraph_words(left + right))
        hyphenated = words_of(texts["hyphenated"])
        kept, total = running_lines_kept(texts["header_footer"])
        rows.append({
            "extractor": label,
            "seeds": statistics.mean(seed_scores),
            "seeds_min": min(seed_scores),
            "two_columns": two_columns,
            "interleaved": interleaved,
            "hyphen_whole": whole_words(hyphenated, paragraph_words(pdf_corpus.HYPHENATED_PARAGRAPHS), long_words),
            "hyphen_similarity": similarity(hyphenated, paragraph_words(pdf_corpus.HYPHENATED_PARAGRAPHS)),
            "running_kept": f"{kept}/{total}",
            "body_similarity": similarity(words_of(texts["header_footer"]),
                                          paragraph_words(pdf_corpus.HEADER_FOOTER_PARAGRAPHS)),
            "s_per_page": best / pages,
        })
    return rows


def table(rows: list[dict]) -> str:
    out = ["| extractor | seeds: similarity (mean / min) | 2 columns: similarity, order | 2 columns drawn row by row "
           "| hyphenated: words whole (similarity) | headers+footers kept (body similarity) | s/page |",
           "|---|---|---|---|---|---|---|"]

    def order(score: float) -> str:
        return "one after the other" if score >= 0.98 else "interleaved"

    for row in rows:
        out.append(
            f"| {row['extractor']} | {row['seeds']:.3f} / {row['seeds_min']:.3f} "
            f"| {row['two_columns']:.3f}, {order(row['two_columns'])} "
            f"| {row['interleaved']:.3f}, {order(row['interleaved'])} "
            f"| {row['hyphen_whole']:.2f} ({row['hyphen_similarity']:.3f}) "
            f"| {row['running_kept']} ({row['body_similarity']:.3f}) | {row['s_per_page']:.4f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "test-artifacts" / "pdf-corpus")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = build(args.corpus)
    print(table(evaluate(corpus, args.repeat)))
    print()
    print("| package | licence |\n|---|---|")
    for _, package, _, licence in EXTRACTORS:
        if licence:
            print(f"| {package} {_version(package)} | {licence} |")


if __name__ == "__main__":
    main()
