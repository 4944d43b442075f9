"""A PDF test corpus, printed from HTML by headless Chromium (`page.pdf()`, A4), so the PDFs are real
ones with the layouts the reader must handle, and the text each one holds is known exactly.

Every builder that prints takes an optional `printer` (what `pdf_printer()` yields) so that one
Chromium prints many files; without it each call starts its own (about a second).
`build_corpus(out_dir)` makes all of them with one browser.

Hyphenation: Debian's Chromium has no hyphenation dictionaries (Chrome downloads them with the
component updater), so CSS `hyphens: auto` breaks no word here; the hyphenated PDF puts soft hyphens
(U+00AD) at the dictionary hyphenation points of its words instead, which Chromium breaks at and prints
with a hyphen, as it would with a dictionary.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from chromium import CHROMIUM, CHROMIUM_ARGS

#: The running header and footer of `header_footer_pdf` (the footer's numbers are Chromium's).
HEADER_TEXT = "Harbour Review - Annual Report of the Port Authority"
FOOTER_TEXT = "Page {page} of {pages}"

_STYLE = """
body { font-family: "Liberation Serif", serif; font-size: 12pt; line-height: 1.25; margin: 0; }
h1 { font-size: 20pt; }
.narrow p { width: 150pt; }
.scan { break-before: page; }
.scan img { width: 100%; }
.placed { position: relative; }
"""
_TWO_COLUMNS = "body { column-count: 2; column-gap: 24pt; }"

_WORDS = (
    "the harbour council said that new river boats will carry more grain and timber to the northern "
    "towns while workers repair the old stone bridge near the market square before winter storms reach "
    "the coast where fishing crews have asked for safer moorings and better lights along the narrow "
    "channel that ships use each morning when the tide is high and the wind turns west across the bay"
).split()

# Dictionary hyphenation points ("-"), as TeX's English patterns give them.
_HYPHENATION = (
    "in-ter-na-tion-al ad-min-is-tra-tion an-nounced ex-tra-or-di-nary re-spon-si-bil-i-ties "
    "telecom-mu-ni-ca-tions in-fra-struc-ture en-vi-ron-men-tal char-ac-ter-i-za-tion rep-re-sen-ta-tives "
    "in-de-pen-dent in-ves-ti-ga-tion con-struc-tion ne-go-ti-a-tions ac-count-abil-i-ty "
    "com-mu-ni-ties de-vel-op-ment en-gi-neer-ing com-pre-hen-sive im-ple-men-ta-tion "
    "con-sid-er-able or-ga-ni-za-tions prob-a-bil-i-ty trans-por-ta-tion main-te-nance"
).split()
#: The long words of `hyphenated_pdf`, unbroken.
HYPHENATED_WORDS = [word.replace("-", "") for word in _HYPHENATION]


class PrintPdf(Protocol):
    def __call__(self, html: str, path: Path, *, two_columns: bool = False, header_footer: bool = False) -> Path:
        ...


def _prose(seed: int, paragraphs: int, words: int) -> list[str]:
    """Deterministic paragraphs of plain words, each "Part N." first so that their order shows."""
    rng = random.Random(seed)
    out = []
    for number in range(1, paragraphs + 1):
        sentences, count = [f"Part {number}."], 0
        while count < words:
            sentence = [rng.choice(_WORDS) for _ in range(rng.randint(7, 15))]
            sentences.append(" ".join(sentence).capitalize() + ".")
            count += len(sentence)
        out.append(" ".join(sentences))
    return out


#: The paragraphs of `two_column_pdf` (three pages of two columns).
TWO_COLUMN_PARAGRAPHS = _prose(1, 16, 90)
#: The paragraphs of `header_footer_pdf` (four pages).
HEADER_FOOTER_PARAGRAPHS = _prose(2, 20, 110)


def _hyphenated_paragraphs() -> tuple[list[str], list[str]]:
    rng = random.Random(3)
    plain, marked = [], []
    for _ in range(6):
        words = [rng.choice(_HYPHENATION) if rng.random() < 0.4 else rng.choice(_WORDS) for _ in range(60)]
        plain.append(" ".join(word.replace("-", "") for word in words).capitalize() + ".")
        marked.append(" ".join(word.replace("-", "\u00ad") for word in words).capitalize() + ".")
    return plain, marked


#: The paragraphs of `hyphenated_pdf` as text (its PDF breaks many of their long words with a hyphen).
HYPHENATED_PARAGRAPHS, _HYPHENATED_MARKED = _hyphenated_paragraphs()


def html_page(body: str, *, css_class: str = "") -> str:
    """A whole HTML document (lang=en, UTF-8, the corpus style) around this body markup."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><style>{_STYLE}</style></head>'
            f'<body><div class="{css_class}">{body}</div></body></html>')


def paragraphs_html(paragraphs: list[str], title: str | None = None) -> str:
    """Escaped markup: the title as <h1>, then one <p> per paragraph."""
    parts = [f"<h1>{html_lib.escape(title)}</h1>"] if title is not None else []
    parts += [f"<p>{html_lib.escape(text)}</p>" for text in paragraphs]
    return "\n".join(parts)


@contextmanager
def pdf_printer() -> Iterator[PrintPdf]:
    """One headless Chromium for many prints: yields print(html, path, two_columns=, header_footer=).
    `html` is a whole document or body markup (wrapped in `html_page`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()

            def print_one(html: str, path: Path, *, two_columns: bool = False, header_footer: bool = False) -> Path:
                if not html.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
                    html = html_page(html)
                if two_columns:
                    html = html.replace("</head>", f"<style>{_TWO_COLUMNS}</style></head>", 1)
                page.set_content(html, wait_until="load")
                options: dict = {"format": "A4", "margin": {"top": "20mm", "bottom": "20mm", "left": "18mm",
                                                            "right": "18mm"}}
                if header_footer:
                    small = 'style="font-size:9pt;width:100%;text-align:center;font-family:serif"'
                    options.update(
                        display_header_footer=True,
                        header_template=f"<div {small}>{html_lib.escape(HEADER_TEXT)}</div>",
                        footer_template=(f'<div {small}>Page <span class="pageNumber"></span> of '
                                         f'<span class="totalPages"></span></div>'),
                        margin={"top": "25mm", "bottom": "25mm", "left": "18mm", "right": "18mm"},
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                page.pdf(path=str(path), **options)
                return path

            yield print_one
        finally:
            browser.close()


def print_pdf(html: str, path: Path, *, two_columns: bool = False, header_footer: bool = False) -> Path:
    """Print one HTML document (or body markup) to an A4 PDF at path, in a Chromium of its own."""
    with pdf_printer() as print_one:
        return print_one(html, path, two_columns=two_columns, header_footer=header_footer)


@contextmanager
def _printer(printer: PrintPdf | None) -> Iterator[PrintPdf]:
    if printer is not None:
        yield printer
    else:
        with pdf_printer() as print_one:
            yield print_one


def seed_paragraphs(txt: Path) -> list[str]:
    """A seed article's paragraphs: its non-empty lines, stripped (the first is its title)."""
    return [line.strip() for line in txt.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_pdfs(seeds_dir: Path, out_dir: Path, printer: PrintPdf | None = None) -> list[Path]:
    """Each seeds_dir/*.txt printed to out_dir/<same name>.pdf: its first line as <h1>, then one <p>
    per non-empty line."""
    out = []
    with _printer(printer) as print_one:
        for txt in sorted(seeds_dir.glob("*.txt")):
            title, *paragraphs = seed_paragraphs(txt)
            out.append(print_one(paragraphs_html(paragraphs, title), out_dir / f"{txt.stem}.pdf"))
    return out


def two_column_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """TWO_COLUMN_PARAGRAPHS in two CSS columns, over three pages."""
    with _printer(printer) as print_one:
        return print_one(paragraphs_html(TWO_COLUMN_PARAGRAPHS), path, two_columns=True)


def header_footer_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """HEADER_FOOTER_PARAGRAPHS over four pages, each with HEADER_TEXT on top and "Page N of M" below."""
    with _printer(printer) as print_one:
        return print_one(paragraphs_html(HEADER_FOOTER_PARAGRAPHS), path, header_footer=True)


def _line_chunks(text: str, words: int) -> list[str]:
    split = text.split()
    return [" ".join(split[start:start + words]) for start in range(0, len(split), words)]


#: The columns of `interleaved_columns_pdf`, as printed lines: the left column, then the right one.
INTERLEAVED_COLUMNS = (_line_chunks(TWO_COLUMN_PARAGRAPHS[0], 6), _line_chunks(TWO_COLUMN_PARAGRAPHS[1], 6))


def interleaved_columns_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """Two columns of INTERLEAVED_COLUMNS lines that the file draws row by row (left line 1, right
    line 1, left line 2, ...): placed lines in that order in the HTML, which Chromium paints in order."""
    left, right = INTERLEAVED_COLUMNS
    placed = []
    for row in range(max(len(left), len(right))):
        for x, column in ((0, left), (250, right)):
            if row < len(column):
                placed.append(f'<div style="position:absolute;left:{x}pt;top:{row * 16}pt;white-space:nowrap">'
                              f"{html_lib.escape(column[row])}</div>")
    with _printer(printer) as print_one:
        return print_one(html_page("".join(placed), css_class="placed"), path)


def hyphenated_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """HYPHENATED_PARAGRAPHS in a narrow column, their long words broken with hyphens at line ends."""
    body = "\n".join(f"<p>{html_lib.escape(text)}</p>" for text in _HYPHENATED_MARKED)
    with _printer(printer) as print_one:
        return print_one(html_page(body, css_class="narrow"), path)


def _page_images(pdf: Path, scale: float = 1.5) -> list[bytes]:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        images = []
        for page in document:
            buffer = io.BytesIO()
            page.render(scale=scale).to_pil().save(buffer, format="PNG")
            images.append(buffer.getvalue())
        return images
    finally:
        document.close()


def _image_markup(png: bytes) -> str:
    return f'<div class="scan"><img src="data:image/png;base64,{base64.b64encode(png).decode()}"></div>'


def scanned_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """Two pages that are only images of text (a scan): no text layer at all."""
    with _printer(printer) as print_one:
        text = print_one(paragraphs_html(HEADER_FOOTER_PARAGRAPHS[:8]), path.with_suffix(".text.pdf"))
        images = _page_images(text)[:2]
        text.unlink()
        return print_one(html_page("".join(_image_markup(png) for png in images)), path)


def partly_scanned_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """Page 1 text (TWO_COLUMN_PARAGRAPHS[:2]), pages 2 and 3 images of text, page 4 text
    (TWO_COLUMN_PARAGRAPHS[2:4])."""
    with _printer(printer) as print_one:
        text = print_one(paragraphs_html(HEADER_FOOTER_PARAGRAPHS[:8]), path.with_suffix(".text.pdf"))
        images = _page_images(text)[:2]
        text.unlink()
        body = (paragraphs_html(TWO_COLUMN_PARAGRAPHS[:2]) + "".join(_image_markup(png) for png in images)
                + '<div class="scan"></div>' + paragraphs_html(TWO_COLUMN_PARAGRAPHS[2:4]))
        return print_one(html_page(body), path)


def encrypted_pdf(path: Path, printer: PrintPdf | None = None, password: str = "secret") -> Path:
    """A text PDF that needs a password to open."""
    from pypdf import PdfReader, PdfWriter

    with _printer(printer) as print_one:
        plain = print_one(paragraphs_html(TWO_COLUMN_PARAGRAPHS[:3]), path.with_suffix(".plain.pdf"))
    writer = PdfWriter(clone_from=PdfReader(plain))
    # RC4: pypdf needs no cryptography package for it, and a wrong password fails the same way.
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path


def truncated_pdf(path: Path, printer: PrintPdf | None = None) -> Path:
    """A real PDF (several pages) cut in half, as an interrupted download leaves it."""
    with _printer(printer) as print_one:
        whole = print_one(paragraphs_html(HEADER_FOOTER_PARAGRAPHS), path.with_suffix(".whole.pdf"))
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def malformed_pdf(path: Path) -> Path:
    """A %PDF header, random bytes, and %%EOF (so it is damaged, not truncated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + random.Random(0).randbytes(8000) + b"\n%%EOF\n")
    return path


def build_corpus(out_dir: Path, seeds_dir: Path | None = None) -> dict[str, Path]:
    """The whole corpus in out_dir with one browser, by name: "two_column", "header_footer", "hyphenated",
    "interleaved_columns", "scanned", "partly_scanned", "encrypted", "truncated", "malformed", and
    "seed:<stem>" per seed when seeds_dir is given."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with pdf_printer() as print_one:
        corpus = {
            "two_column": two_column_pdf(out_dir / "two_column.pdf", print_one),
            "header_footer": header_footer_pdf(out_dir / "header_footer.pdf", print_one),
            "hyphenated": hyphenated_pdf(out_dir / "hyphenated.pdf", print_one),
            "interleaved_columns": interleaved_columns_pdf(out_dir / "interleaved_columns.pdf", print_one),
            "scanned": scanned_pdf(out_dir / "scanned.pdf", print_one),
            "partly_scanned": partly_scanned_pdf(out_dir / "partly_scanned.pdf", print_one),
            "encrypted": encrypted_pdf(out_dir / "encrypted.pdf", print_one),
            "truncated": truncated_pdf(out_dir / "truncated.pdf", print_one),
        }
        if seeds_dir is not None:
            for pdf in seed_pdfs(seeds_dir, out_dir / "seeds", print_one):
                corpus[f"seed:{pdf.stem}"] = pdf
    corpus["malformed"] = malformed_pdf(out_dir / "malformed.pdf")
    return corpus
