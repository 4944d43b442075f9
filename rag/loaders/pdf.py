"""PDF files as printed lines, with PDFium (pypdfium2): the library was chosen by measuring it against
pdfplumber, pdfminer.six and pypdf on the test corpus (evals/pdf_libraries.py; the table is in
evals/README.md, "PDF text extraction").

- Lines: PDFium's characters, in the order the file draws them, grouped into visual lines by their
  boxes: a character on the line's baseline and just right of it goes on it; a jump down, back, or
  across a gap wider than the line is tall (a column gap) starts another line.
- Sideways text: a page whose text mostly runs down, up or upside down (a landscape table on a
  portrait page, a scan placed sideways) is read in the direction of its text.
- Reading order: the lines of a page are ordered by a recursive XY cut over their boxes: a gutter
  through the whole height of a region splits it into columns read left to right, else the widest
  horizontal gaps split it top to bottom. Columns are read one after the other, whatever order the
  file draws them in; pieces of one printed line left next to each other are joined again.
- Boxes: [x0, top, x1, bottom] in points from the top-left corner of the page as displayed (crop box
  and /Rotate applied), from PDFium's loose character boxes (the font's ascent to its descent).
- Wrapped: a line continues the paragraph of the line before when it is on the same page and in the
  same column, at the page's usual line pitch, not indented past it, in the same text size, and the
  line before ends near the column's right edge (this line's first word would not have fit there;
  a line that ends in no sentence mark must stop well short to end a paragraph).
- Running headers and footers are left out: lines in the top or bottom eighth of the page whose text,
  digits masked, recurs there on at least half of the pages with text, and on two or more (page
  numbers, title bars). Kept, they would cut into the text at every page break.
- Text: whitespace trimmed and collapsed, control and format characters removed; at a line end a
  hyphen that broke a word to fit (a soft hyphen) is written "\u2010" and a hyphen of the word itself
  "-", so `rag.text.join_wrapped` makes "compa\u2010" + "ny" "company" and "high-" + "profile" "high-profile".
- No text on any page but images: NoTextLayer (a scan). Some pages images only: a note names them.
  Encrypted, damaged, truncated, not a PDF: Unreadable with the reason.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rag.loaders.document import Document, NoTextLayer, Page, Unreadable

__all__ = ["clean_line", "read_pdf"]

_BAND = 1 / 8  # top and bottom share of a page where running headers and footers sit
# At a line end, a soft hyphen drawn (U+00AD, U+2010 as Chromium draws it) broke a word to fit: it is
# written U+2010 so join_wrapped makes the word whole. PDFium's mark for a hyphen character at a line
# end (U+0002) and a non-breaking hyphen belong to the word ("high-profile"): written "-".
_BREAK_HYPHENS = "\u00ad\u2010"
_LINE_END_HYPHENS = _BREAK_HYPHENS + "\u0002\u2011"
_WHITESPACE = re.compile(r"\s+")
# Control and format characters (soft hyphens, zero-width and direction marks, tags): not printed text.
_INVISIBLE = re.compile("[%s\U000e0000-\U000e007f]" % "".join(
    re.escape(chr(code)) for code in range(0x10000)
    if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs") and not chr(code).isspace()))
_DIGITS = re.compile(r"\d+")
_PARAGRAPH_END_MARKS = set(".!?:;\"'”’)]»…")
_SPACE_CODES = frozenset(code for code in range(0x3001) if chr(code).isspace())
_NO_BREAK_CODES = frozenset((0x00A0, 0x2007, 0x202F))  # spaces a line may not break at
_SPACE, _NO_BREAK = 32, 0xA0  # the two kinds of space, as _page_chars gives them
_EOF_WINDOW = 4096  # a PDF ends with %%EOF; readers allow some bytes after it (Acrobat 1024)
_TURN_SAMPLE = 400  # characters looked at to tell which way a page's text runs
_MAX_CUT_DEPTH = 48  # deeper than any real layout: what is left is ordered top to bottom
_PDFIUM_ERRORS = {  # FPDF_ERR_* codes of FPDF_LoadMemDocument
    2: "not a readable PDF (the file cannot be opened)",  # FILE
    3: "not a readable PDF (it is damaged)",  # FORMAT
    4: "encrypted: it needs a password",  # PASSWORD
    5: "encrypted with a security handler PDFium does not support",  # SECURITY
    6: "not a readable PDF (its pages are missing or broken)",  # PAGE
}

# One character: code point, then its box (x0, top, x1, bottom); a space has an empty box.
_Char = tuple[int, float, float, float, float]


@dataclass(slots=True)
class _Line:
    """A visual line, in its page's reading frame (where the text runs left to right)."""

    x0: float
    top: float
    x1: float
    bottom: float
    first_word_x1: float  # the first word's right edge: what would have had to fit on the line before
    parts: list[str]

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def text(self) -> str:
        return clean_line("".join(self.parts))


@dataclass(slots=True)
class _PageText:
    width: float  # as displayed
    height: float
    turn: int  # quarter turns clockwise from the reading frame to the page as displayed
    lines: list[_Line]

    @property
    def frame_height(self) -> float:
        return self.height if self.turn % 2 == 0 else self.width

    def display_box(self, line: _Line) -> list[float]:
        w, h = self.width, self.height
        x0, top, x1, bottom = line.x0, line.top, line.x1, line.bottom
        box = {0: (x0, top, x1, bottom), 1: (w - bottom, x0, w - top, x1),
               2: (w - x1, h - bottom, w - x0, h - top), 3: (top, h - x1, bottom, h - x0)}[self.turn]
        return [round(value, 2) for value in box]


def read_pdf(data: bytes, source: str) -> Document:
    """The PDF's printed lines in reading order, with pages, boxes and wrapped flags (see the module)."""
    import pypdfium2

    pdf = _open(data)
    pages: list[_PageText] = []
    image_pages: list[int] = []
    broken_pages: list[int] = []
    try:
        for index in range(len(pdf)):
            try:
                page = pdf[index]
            except pypdfium2.PdfiumError:
                broken_pages.append(index + 1)
                pages.append(_PageText(*_size_of(pdf, index), 0, []))
                continue
            try:
                text = _page_text(page)
                if not text.lines and _has_images(page):
                    image_pages.append(index + 1)
            except pypdfium2.PdfiumError:
                broken_pages.append(index + 1)
                text = _PageText(*page.get_size(), 0, [])
            finally:
                page.close()
            text.lines = _reading_order(text.lines)
            pages.append(text)
    finally:
        pdf.close()
    if image_pages and not any(page.lines for page in pages):
        what = "1 page" if len(image_pages) == 1 else f"{len(image_pages)} pages"
        raise NoTextLayer(f"no text layer ({what} of images): it looks scanned; run OCR on it first")
    _drop_running_lines(pages)
    doc = Document(source=source, lines=[], pages=[], boxes=[], wrapped=[])
    for number, page in enumerate(pages, start=1):
        doc.pages.append(Page(number, len(doc.lines) + 1, len(page.lines), round(page.width, 2),
                              round(page.height, 2)))
        doc.wrapped.extend(_wrapped(page.lines))
        for line in page.lines:
            doc.lines.append(line.text)
            doc.boxes.append(page.display_box(line))
    if image_pages:
        doc.notes.append(f"{_pages_phrase(image_pages, 'has', 'have')} no text layer (images only: OCR would "
                         "make them searchable)")
    if broken_pages:
        doc.notes.append(f"{_pages_phrase(broken_pages, 'is', 'are')} damaged and left out")
    return doc


def _pages_phrase(numbers: list[int], one: str, many: str) -> str:
    """Which pages, as "page 3 has", "pages 3, 4 have", "pages 3-40, 52 have" (runs of three as ranges)."""
    if len(numbers) == 1:
        return f"page {numbers[0]} {one}"
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    named = [f"{run[0]}-{run[-1]}" if len(run) >= 3 else ", ".join(map(str, run)) for run in runs]
    return f"pages {', '.join(named)} {many}"


def _open(data: bytes):
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    if b"%PDF-" not in data[:1024]:
        raise Unreadable("not a PDF (no %PDF header)")
    ends = b"%%EOF" in data[-_EOF_WINDOW:]
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        code = getattr(exc, "err_code", None) or pdfium_c.FPDF_GetLastError()  # err_code: pypdfium2 5
        if code == 3 and not ends:
            raise Unreadable("not a readable PDF (damaged, or truncated: the end of the file is missing)") from None
        raise Unreadable(_PDFIUM_ERRORS.get(code) or f"not a readable PDF ({exc})") from None
    if not ends:
        # PDFium rebuilds a file whose end is missing from what is left, silently short of pages; an
        # index that cites exact lines must not hold part of a document as if it were all of it.
        pdf.close()
        raise Unreadable("truncated: the end of the file is missing")
    return pdf


def _size_of(pdf, index: int) -> tuple[float, float]:
    import pypdfium2

    try:
        width, height = pdf.get_page_size(index)
        return width, height
    except pypdfium2.PdfiumError:  # the page's own dictionary is broken: no size, and no lines
        return 0.0, 0.0


def _has_images(page) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=4))


# ---------------------------------------------------------------------------- characters and lines


def _page_text(page) -> _PageText:
    width, height = page.get_size()
    chars = _page_chars(page)
    turn = _text_turn(chars)
    if turn:
        chars = [_into_frame(char, turn, width, height) for char in chars]
    return _PageText(width, height, turn, _lines(chars))


def _display_transform(page) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, d, e, f) with X = a*x + b*y + c, Y = d*x + e*y + f: from PDF user space (y up) to the
    page as displayed (y down from the top-left), with the crop box's origin and /Rotate (clockwise)."""
    left, bottom, right, top = page.get_bbox()
    rotation = page.get_rotation() % 360
    if rotation == 90:
        return 0.0, 1.0, -bottom, 1.0, 0.0, -left
    if rotation == 180:
        return -1.0, 0.0, right, 0.0, 1.0, -bottom
    if rotation == 270:
        return 0.0, -1.0, top, -1.0, 0.0, right
    return 1.0, 0.0, -left, 0.0, -1.0, top


def _page_chars(page) -> list[_Char]:
    """The page's characters in the order the file draws them, with their boxes as displayed; a
    space is (_SPACE or _NO_BREAK, 0, 0, 0, 0). (Once per character: it keeps to locals.)"""
    import ctypes

    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        handle, count = textpage.raw, textpage.count_chars()
        get_unicode, get_box = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_GetLooseCharBox
        a, b, c, d, e, f = _display_transform(page)
        rect = pdfium_c.FS_RECTF()
        rect_ref = ctypes.byref(rect)
        chars: list[_Char] = []
        for index in range(count):
            code = get_unicode(handle, index)
            if code in _SPACE_CODES:
                chars.append((_NO_BREAK if code in _NO_BREAK_CODES else _SPACE, 0.0, 0.0, 0.0, 0.0))
            elif 0 < code < 0x110000 and get_box(handle, index, rect_ref):
                ax, ay = a * rect.left + b * rect.top + c, d * rect.left + e * rect.top + f
                bx, by = a * rect.right + b * rect.bottom + c, d * rect.right + e * rect.bottom + f
                chars.append((code, min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
        return chars
    finally:
        textpage.close()


def _text_turn(chars: list[_Char]) -> int:
    """Which way most of the text runs, as quarter turns clockwise from left-to-right: from the step
    between neighbouring letters."""
    votes = [0, 0, 0, 0]
    previous = None
    for code, x0, top, x1, bottom in chars[:_TURN_SAMPLE]:
        if x1 <= x0 and bottom <= top:  # a space, or a mark with no box
            previous = None
            continue
        x, y, size = (x0 + x1) / 2, (top + bottom) / 2, max(x1 - x0, bottom - top)
        if previous is not None:
            dx, dy = x - previous[0], y - previous[1]
            if 0 < math.hypot(dx, dy) <= 1.5 * max(size, previous[2]):
                votes[(0 if dx > 0 else 2) if abs(dx) >= abs(dy) else (1 if dy > 0 else 3)] += 1
        previous = (x, y, size)
    best = max(range(4), key=votes.__getitem__)
    return best if votes[best] > sum(votes) / 2 else 0


def _into_frame(char: _Char, turn: int, width: float, height: float) -> _Char:
    """A character's box turned from the page as displayed into the frame where its text runs left to right."""
    code, x0, top, x1, bottom = char
    if x1 <= x0 and bottom <= top:
        return char
    if turn == 1:
        return code, top, width - x1, bottom, width - x0
    if turn == 2:
        return code, width - x1, height - bottom, width - x0, height - top
    return code, height - bottom, x0, height - top, x1


def _lines(chars: list[_Char]) -> list[_Line]:
    """Characters grouped into visual lines (see the module). (Once per character: it keeps to locals.)"""
    lines: list[_Line] = []
    parts: list[str] = []
    x0 = top = x1 = bottom = first_x1 = 0.0
    space = breaking = False
    for code, cx0, ctop, cx1, cbottom in chars:
        if code == _SPACE or code == _NO_BREAK:
            space, breaking = True, breaking or code == _SPACE
            continue
        if cx1 <= cx0 and cbottom <= ctop:  # no glyph box: a mark with no place of its own
            if parts:
                parts.append(chr(code))
            continue
        height, char_height = bottom - top, cbottom - ctop
        tall = height if height > char_height else char_height
        if (parts and min(bottom, cbottom) - max(top, ctop) >= 0.5 * min(height, char_height)
                and x1 - 0.3 * tall <= cx0 <= x1 + tall):
            if space or cx0 - x1 > 0.1 * tall:  # a gap with no space character is a space too
                parts.append(" ")
                if first_x1 < 0 and (breaking or not space):  # "nearly\u00a0$3" is one word to the layout
                    first_x1 = x1
            parts.append(chr(code))
            x1 = cx1 if cx1 > x1 else x1
            top = ctop if ctop < top else top
            bottom = cbottom if cbottom > bottom else bottom
        else:
            if parts:
                lines.append(_Line(x0, top, x1, bottom, first_x1 if first_x1 >= 0 else x1, parts))
            parts = [chr(code)]
            x0, top, x1, bottom, first_x1 = cx0, ctop, cx1, cbottom, -1.0
        space = breaking = False
    if parts:
        lines.append(_Line(x0, top, x1, bottom, first_x1 if first_x1 >= 0 else x1, parts))
    return [line for line in lines if line.text]


def clean_line(text: str) -> str:
    """A line's text as the reader gives it: a hyphen mark at its end made "\u2010" (a word broken to
    fit) or "-" (a hyphen of the word), control and format characters removed, whitespace collapsed
    and trimmed."""
    if text and text[-1] in _LINE_END_HYPHENS:
        text = text[:-1] + ("\u2010" if text[-1] in _BREAK_HYPHENS else "-")
    return _WHITESPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


# ---------------------------------------------------------------------------- reading order


def _reading_order(lines: list[_Line]) -> list[_Line]:
    if len(lines) < 2:
        return lines
    return _join_pieces(list(_xy_cut(lines, statistics.median(line.height for line in lines), 0)))


def _xy_cut(lines: list[_Line], line_height: float, depth: int) -> Iterator[_Line]:
    if len(lines) < 2 or depth > _MAX_CUT_DEPTH:
        yield from _rows(lines)
        return
    by_x = sorted(lines, key=lambda line: line.x0)
    split, width = _widest_gap(by_x, lambda line: line.x0, lambda line: line.x1)
    if split and width >= 0.75 * line_height:  # a gutter through the whole region: columns
        yield from _xy_cut(by_x[:split], line_height, depth + 1)
        yield from _xy_cut(by_x[split:], line_height, depth + 1)
        return
    by_y = sorted(lines, key=lambda line: line.top)
    split, height = _widest_gap(by_y, lambda line: line.top, lambda line: line.bottom)
    if not split:
        yield from _rows(lines)
        return
    # Every gap about as wide as the widest is cut at once: the even spacing of lines of text.
    cuts, reach = [0], by_y[0].bottom
    for index in range(1, len(by_y)):
        if by_y[index].top - reach >= 0.9 * height:
            cuts.append(index)
        reach = max(reach, by_y[index].bottom)
    cuts.append(len(by_y))
    for start, end in zip(cuts, cuts[1:]):
        yield from _xy_cut(by_y[start:end], line_height, depth + 1)


def _widest_gap(ordered: list[_Line], start: Callable[[_Line], float],
                end: Callable[[_Line], float]) -> tuple[int, float]:
    """In lines sorted by start: where the widest empty stripe between them ends (an index) and its
    width; (0, 0.0) when they leave none."""
    best, best_width, reach = 0, 0.0, end(ordered[0])
    for index in range(1, len(ordered)):
        gap = start(ordered[index]) - reach
        if gap > best_width:
            best, best_width = index, gap
        reach = max(reach, end(ordered[index]))
    return best, best_width


def _join_pieces(lines: list[_Line]) -> list[_Line]:
    """Pieces of one printed line that follow each other in reading order, joined (a wide justified
    space, a tab stop, or PDFium's own reordering of a rotated page split them)."""
    out = [lines[0]]
    for line in lines[1:]:
        last = out[-1]
        tall = max(last.height, line.height)
        if _same_row(last, line) and line.x0 >= last.x1 - 0.3 * tall:
            if line.x0 - last.x1 > 0.1 * tall:
                last.parts += [" ", *line.parts]
            else:  # the same word goes on
                last.parts += line.parts
                if last.first_word_x1 >= last.x1:
                    last.first_word_x1 = line.first_word_x1
            last.x1 = max(last.x1, line.x1)
            last.top, last.bottom = min(last.top, line.top), max(last.bottom, line.bottom)
        else:
            out.append(line)
    return out


def _same_row(a: _Line, b: _Line) -> bool:
    return min(a.bottom, b.bottom) - max(a.top, b.top) >= 0.5 * min(a.height, b.height)


def _rows(lines: list[_Line]) -> list[_Line]:
    """Lines that no gap separates, in rows top to bottom, each row left to right."""
    out: list[_Line] = []
    row: list[_Line] = []
    for line in sorted(lines, key=lambda line: line.top):
        if row and not _same_row(row[0], line):
            out += sorted(row, key=lambda line: line.x0)
            row = []
        row.append(line)
    return out + sorted(row, key=lambda line: line.x0)


# ---------------------------------------------------------------------------- headers and footers


def _drop_running_lines(pages: list[_PageText]) -> None:
    """Leave out the running headers and footers (see the module), in place."""
    with_text = sum(1 for page in pages if page.lines)
    needed = max(2, math.ceil(with_text / 2))
    if with_text < needed:
        return
    keys = [[_band_key(line, page.frame_height) for line in page.lines] for page in pages]
    counts = Counter(key for page_keys in keys for key in set(page_keys) if key is not None)
    running = {key for key, count in counts.items() if count >= needed}
    if running:
        for page, page_keys in zip(pages, keys):
            page.lines = [line for line, key in zip(page.lines, page_keys) if key not in running]


def _band_key(line: _Line, page_height: float) -> tuple[str, str] | None:
    middle = (line.top + line.bottom) / 2
    if middle <= page_height * _BAND:
        band = "top"
    elif middle >= page_height * (1 - _BAND):
        band = "bottom"
    else:
        return None
    return band, _DIGITS.sub("#", line.text.lower())


# ---------------------------------------------------------------------------- wrapped lines


def _wrapped(lines: list[_Line]) -> list[bool]:
    """Per line of one page (in reading order): whether it continues the paragraph of the line before."""
    if not lines:
        return []
    right_edges: dict[tuple[int, int], float] = defaultdict(float)  # per (left edge, text size): right edge
    for line in lines:
        key = _column_key(line)
        right_edges[key] = max(right_edges[key], line.x1)
    # Line pitch in line heights (the same for every text size of one style sheet), as usual on the page.
    pitches = [(line.bottom - prev.bottom) / line.height for prev, line in zip(lines, lines[1:])
               if _same_size(prev, line) and abs(line.x0 - prev.x0) <= 2 * line.height
               and 0.5 * line.height < line.bottom - prev.bottom < 3 * line.height]
    usual_pitch = statistics.median(pitches) if pitches else 1.2
    out = [False]
    for prev, line in zip(lines, lines[1:]):
        height = max(prev.height, line.height)
        column, size = _column_key(prev)
        edge = max(right_edges.get((column + dx, size + ds), 0.0) for dx in (-1, 0, 1) for ds in (-1, 0, 1))
        out.append(
            _same_size(prev, line)
            and 0.5 * height < line.bottom - prev.bottom <= min(1.3 * usual_pitch, 2.5) * height
            and prev.x0 - 3 * height <= line.x0 <= prev.x0 + 0.5 * height
            and line.x0 < prev.x1
            and not _ends_paragraph(prev, edge, line.first_word_x1 - line.x0 + 0.6 * height)
        )
    return out


def _ends_paragraph(line: _Line, edge: float, next_word: float) -> bool:
    """Whether a line that stops short of its column's right edge ended its paragraph: the next line's
    first word would have fit after it. A no-break space the PDF spells as a space ("nearly $3,680")
    can make that wrong, so a line without a sentence's last mark must stop well short."""
    room = edge - line.x1
    if room <= next_word:
        return False
    return room > 0.25 * (edge - line.x0) or line.text[-1:] in _PARAGRAPH_END_MARKS


def _column_key(line: _Line) -> tuple[int, int]:
    return round(line.x0 / 6), round(line.height * 2)


def _same_size(a: _Line, b: _Line) -> bool:
    return abs(a.height - b.height) <= 0.2 * max(a.height, b.height)
