"""What every loader produces: a document as numbered lines, with pages where the format has them."""

from __future__ import annotations

from dataclasses import dataclass, field


class Unreadable(Exception):
    """A file that is skipped: the message is the reason, shown in a one-line warning that names the file."""


class NoTextLayer(Unreadable):
    """A paged file whose pages are images only (a scan): counted apart in the index summary."""


@dataclass(slots=True)
class Page:
    """One page of a paged document. Its lines are the document's lines first_line .. first_line + line_count - 1
    (1-based); a citation numbers them 1 .. line_count within the page."""

    number: int  # 1-based
    first_line: int
    line_count: int
    width: float  # points (1/72 inch)
    height: float


@dataclass(slots=True)
class Document:
    """A file as lines. Line numbers are 1-based over the whole document; a paged document also
    knows which page each line is on (`pages`), and may know each line's box on its page."""

    source: str  # path relative to the corpus root, with "/" separators
    lines: list[str]
    sha256: str = ""
    pages: list[Page] | None = None
    # Per line, where the format gives it: [x0, top, x1, bottom] in points from the page's top-left corner.
    boxes: list[list[float] | None] | None = None
    # Per line: True when the line continues the paragraph of the line before (the layout wrapped it).
    wrapped: list[bool] | None = None
    notes: list[str] = field(default_factory=list)  # warnings worth a log line, that did not stop the read
    path: str | None = None  # the file it was read from (absolute): paged documents are rendered from it

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
