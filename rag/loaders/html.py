"""HTML pages (.html, .htm): the main text only, one line per block, by trafilatura.

The page is decoded with the charset it declares (a byte-order mark, then <meta charset> or
<meta http-equiv="Content-Type">, or an XML declaration), else as UTF-8, else as cp1252 with a note.
trafilatura finds the main text; navigation, menus, adverts, cookie banners, sidebars and footers
are left out (evals/README.md, "HTML and Word text extraction", has the comparison with jusText).
Each block (heading, paragraph, list item, quote, table row with its cells joined by " | ") becomes
one line, whitespace collapsed, after the page title (the article's <h1>, else <title>).
"""

from __future__ import annotations

import codecs
import logging
import re

import trafilatura
from lxml import etree
from trafilatura.settings import use_config

from rag.loaders.document import Document, Unreadable

# trafilatura logs its own reasons for giving up ("discarding data", "empty HTML tree"); ours is
# the Unreadable below, in the one warning line that names the file.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

_SNIFF_BYTES = 4096  # browsers look for <meta charset> in the first 1024 bytes; pages written by hand run longer
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([a-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_DOCUMENT_START = re.compile(r"<(?:!doctype|html|head|body)[\s>]", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

# Never main text: pruned before extraction, so that on a page with no article trafilatura's last
# resorts (the longest remaining text, or all of it) cannot bring them back. A cookie banner is known
# by a compound class or id or a consent platform's name, never a bare "cookie" (a recipe page), or
# as a dialog that speaks of cookies; neither holds an <h1> or is the <body> (plugins mark it).
_COOKIE_BANNER = (
    r"cookie[-_]?(?:banner|bar|consent|law|notice|policy|popup|wall|box|modal|overlay)|notice[-_]{0,2}cookie"
    r"|consent[-_]?(?:banner|manager|sdk|popup|modal)|gdpr|onetrust|cookiebot|cmplz|borlabs|didomi|usercentrics"
)
_NEVER_MAIN_TEXT = etree.XPath(
    "//nav | //noscript | //*[@role='navigation' or @role='contentinfo'] | //footer[not(ancestor::article)]"
    f" | //*[re:test(@class, '{_COOKIE_BANNER}', 'i') or re:test(@id, '{_COOKIE_BANNER}', 'i')]"
    "[not(self::body or .//h1)]"
    " | //*[@role='dialog' or @role='alertdialog' or @aria-modal='true'][not(self::body or .//h1)]"
    "[re:test(string(.), 'cookie', 'i')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)

# trafilatura as measured best on the test pages (evals/README.md): its main extractor alone ("fast",
# no readability/jusText comparison), and its whole-page fallbacks only when that finds no text at all
# (by default they run below 250 characters, which lets a short article's page furniture in).
_CONFIG = use_config()
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")

# trafilatura's output elements that start lines of their own; the rest (hi, ref, code, del...) are inline.
_BLOCKS = {"head", "p", "item", "quote", "list", "table", "row"}


def _declared_codec(data: bytes) -> str | None:
    match = _DECLARED_CHARSET.search(data[:_SNIFF_BYTES])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii")
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # As browsers do: "iso-8859-1" and "ascii" pages are read as windows-1252, which they almost always are;
    # a UTF-16 label found by an ASCII scan cannot be true, the bytes are ASCII-compatible.
    return {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252", "utf-16": "utf-8"}.get(name, name)


def _decode(data: bytes, notes: list[str]) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise Unreadable("looks like a binary file")
    declared = _declared_codec(data)
    codec = declared or "utf-8"
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    if declared:
        notes.append(f"some bytes are not valid {codec}, the charset it declares; they read as \ufffd")
        return data.decode(codec, errors="replace")
    notes.append("declares no charset and is not valid UTF-8; read it as cp1252")
    return data.decode("cp1252", errors="replace")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _text_lines(parts: list[str]) -> list[str]:
    """Inline text gathered for one block. trafilatura's fallbacks join the blocks they find with
    newlines, so a newline left in the text separates blocks; any other whitespace is collapsed."""
    return [line for line in (_collapse(piece) for piece in "".join(parts).split("\n")) if line]


def _cell_text(cell: etree._Element) -> str:
    return _collapse(" ".join(cell.itertext()))


def _block_lines(element: etree._Element, lines: list[str]) -> None:
    """Append the lines of one output element: a block's own text is one line, a block inside it
    (a list in a list item, a paragraph in a quote) lines of its own, in document order."""
    if element.tag == "row":
        cells = [_cell_text(cell) for cell in element if cell.tag == "cell"]
        if any(cells):
            lines.append(" | ".join(cells))
        return
    parts = [element.text or ""]
    for child in element:
        if child.tag in _BLOCKS:
            lines.extend(_text_lines(parts))
            parts = []
            _block_lines(child, lines)
        elif child.tag == "lb":  # a <br> inside a paragraph
            parts.append(" ")
        else:  # inline: formatting, links, and any tag trafilatura passes through
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    lines.extend(_text_lines(parts))


def read_html(data: bytes, source: str) -> Document:
    notes: list[str] = []
    text = _decode(data, notes)
    try:
        if not _DOCUMENT_START.search(text, 0, _SNIFF_BYTES):  # trafilatura reads a bare fragment badly
            text = f"<html><body>{text}</body></html>"
        tree = trafilatura.load_html(text)
        if tree is None:
            raise Unreadable("no main text found")
        for element in _NEVER_MAIN_TEXT(tree):
            if element.getparent() is not None:  # the root element stays, whatever its role
                element.drop_tree()
        result = trafilatura.bare_extraction(
            tree, include_comments=False, include_tables=True, include_images=False, include_links=False,
            include_formatting=False, deduplicate=False, with_metadata=True, fast=True, config=_CONFIG,
        )
    except (Unreadable, RecursionError, MemoryError):
        raise  # the bounded child reports the last two with the limit that was hit
    except Exception as exc:  # lxml and trafilatura raise many kinds on broken markup
        raise Unreadable(f"malformed HTML ({type(exc).__name__}: {str(exc)[:160]})") from None
    lines: list[str] = []
    if result is not None and result.body is not None:
        _block_lines(result.body, lines)
    if not lines:
        raise Unreadable("no main text found")
    title = _collapse(result.title or "")
    if title and title not in lines:
        lines.insert(0, title)
    return Document(source=source, lines=lines, notes=notes)
