"""Citations as the model writes them: split an answer into sentences with their citation markers,
and map each citation to the lines that were actually shown to the model.

The model is only trusted to point roughly at a place: a citation names a retrieved source (tolerating
case, a missing folder, or another extension, never a shortened or partial name) and lines of it that
were in the context. Whether those lines state the sentence is the claim check's job (rag/check.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.text import MARKER, RawCitation, citation_label, is_file_like, parse_marker, split_sentences, strip_markers

_REFUSAL = re.compile(
    r"\b(i don'?t know|i do not know|(?:do|does) not (?:contain|provide|mention|say|state|specify|include|answer|give)"
    r"|no information|not (?:mentioned|provided|specified|stated|available|given)|cannot (?:answer|determine|find)"
    r"|can'?t (?:answer|determine|find)|unable to (?:answer|determine|find)|there is no (?:mention|information))",
    re.I,
)


@dataclass(slots=True)
class ContextLine:
    """One line (or piece of a long line) that was shown to the model, with its label."""

    source: str
    line: int
    text: str
    start_char: int | None = None
    end_char: int | None = None
    page: int | None = None  # for paged documents; `line` is then numbered within the page
    # A paragraph a layout wrapped over lines line..end_line is shown (and checked) as one text:
    # `lines` are those lines as they stand, `parts` where each lies in `text` (see text.join_wrapped).
    end_line: int | None = None
    lines: tuple[str, ...] = ()
    parts: tuple[tuple[int, int], ...] = ()
    raw: str | None = None  # what evidence offsets count in: the whole line when `text` is a piece of it

    @property
    def last_line(self) -> int:
        return self.end_line or self.line

    @property
    def label(self) -> str:
        return citation_label(self.source, self.line, self.last_line, self.page)


class SourceAliases:
    """The names the model is shown for the sources of its lines: "S1", "S2", ... in the order of
    their first line, or (`short=False`) the file names themselves.

    A file name is read and written by the local model as many tokens: [003_02a43008e7f09149.txt:33]
    is 26, [S1:33] is 6, once for every line of the prompt and again for every citation it writes, and
    prompt reading and writing are where an answer's time goes. The model's labels are turned back
    into file names (`restore`) before they are parsed, so nothing after the prompt sees an alias.
    """

    _ALIAS = re.compile(r"(?<![\w.])S(\d{1,3})(?![\w.])", re.I)

    def __init__(self, context: Sequence[ContextLine], short: bool = True):
        self.names: dict[str, str] = {}  # source -> the name the model sees
        for line in context:
            if line.source not in self.names:
                self.names[line.source] = f"S{len(self.names) + 1}" if short else line.source
        self._sources = {int(name[1:]): source for source, name in self.names.items()} if short else {}

    def label(self, line: ContextLine) -> str:
        return citation_label(self.names.get(line.source, line.source), line.line, line.last_line, line.page)

    def restore(self, text: str) -> str:
        """The model's text with each alias inside a [...] marker replaced by its file name; an alias
        that was not shown ("S9" of five sources) and a file name the model wrote are left as they are."""
        if not self._sources:
            return text

        def source(found: re.Match) -> str:
            return self._sources.get(int(found.group(1)), found.group(0))

        return MARKER.sub(lambda marker: f"[{self._ALIAS.sub(source, marker.group(1))}]", text)


@dataclass
class ParsedSentence:
    text: str  # with the markers removed
    citations: list[RawCitation] = field(default_factory=list)


# A sentence about the passages themselves ("... are discussed in multiple passages", "Bert is called
# Badr in the first passage") states nothing from them. Plural, or one passage by its place in the
# prompt closing a clause: "the passage of the bill", "the first passage through the strait" and
# "the Northwest Passage" are facts.
_ABOUT_THE_PASSAGES = re.compile(
    r"\b(the|these|those|multiple|several|other|both|all|some|provided|given|two|three)\s+passages\b"
    r"|\b(provided|given)\s+(text|context|passage|documents?)\b"
    r"|\b(in|from)\s+the\s+(first|second|third|fourth|fifth|last|previous|above|same)\s+passage\s*(?=[.,;:!?)]|$)",
    re.I,
)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


def is_about_the_passages(text: str) -> bool:
    return bool(_ABOUT_THE_PASSAGES.search(text))


def parse_answer(text: str) -> list[ParsedSentence]:
    """Split an answer into sentences, each with the citation markers it carries."""
    sentences = []
    for sentence in split_sentences(text):
        citations = [c for match in MARKER.finditer(sentence.text) for c in parse_marker(match.group(1))]
        plain = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(strip_markers(sentence.text).split()))
        if plain or citations:
            sentences.append(ParsedSentence(plain, citations))
    return sentences


def resolve_source(name: str, sources: Sequence[str]) -> str | None:
    """The one retrieved source a cited name means, tolerating case, a missing folder, and a
    different or missing extension; shortened or partial names never match ("sic" is not "music.txt")."""
    if name in sources:
        return name
    lowered = name.strip().lower()
    if not lowered:
        return None
    matchers = [lambda s: s.lower() == lowered]
    if is_file_like(lowered):
        stem = _stem_of(lowered)
        ids = _identifiers(lowered)
        matchers += [
            lambda s: s.rsplit("/", 1)[-1].lower() == lowered,
            lambda s: _stem_of(s.lower()) == stem or _stem_of(s.rsplit("/", 1)[-1].lower()) == stem,
            # The name's identifiers (a hash, an id: "aadfbd5aacc872f0") are whole words of one source's
            # name, the rest garbled ("report_aadfbd5aacc872f0.pdf" for 001_aadfbd5aacc872f0.pdf).
            lambda s: bool(ids) and ids <= set(_NAME_WORD.findall(s.lower())),
        ]
    for match in matchers:
        found = [s for s in sources if match(s)]
        if len(found) == 1:
            return found[0]
    return None


def cited_lines(raw: RawCitation, sources: Sequence[str], context: Sequence[ContextLine]) -> list[int]:
    """Indexes of the context lines a citation names (empty when it names nothing that was retrieved)."""
    source = resolve_source(raw.source, sources) if raw.source else None
    if source is None:
        return []
    on_page = [i for i, c in enumerate(context) if c.source == source and raw.page in (None, c.page)]
    if raw.start is None:
        return on_page
    low, high = sorted((raw.start, raw.end or raw.start))
    return [i for i in on_page if context[i].line <= high and context[i].last_line >= low]


_NAME_WORD = re.compile(r"[a-z0-9]+")


def _identifiers(name: str) -> set[str]:
    """Words of a file name no other name shares by chance: 8 or more letters and digits, mixed."""
    words = _NAME_WORD.findall(_stem_of(name.rsplit("/", 1)[-1]))
    return {w for w in words if len(w) >= 8 and not w.isdigit() and not w.isalpha()}


def _stem_of(name: str) -> str:
    """A file name without its extension ("a/b.txt" -> "a/b"); a name without one is its own stem."""
    head, _, tail = name.rpartition("/")
    base = tail.rsplit(".", 1)[0] if "." in tail.strip(".") else tail
    return f"{head}/{base}" if head else base
