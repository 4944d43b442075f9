"""One home for text handling: sentences, numbers and quantities, words and names, citation labels and markers.

Everything here is pure (no models, no files) and shared by the citation check, the disagreement
finder, the evaluation and the user interfaces, so they all split, count and cite the same way.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

__all__ = [
    "ALNUM",
    "LETTER",
    "LOWER",
    "MARKER",
    "Quantity",
    "RawCitation",
    "Sentence",
    "UPPER",
    "antonyms",
    "citation_label",
    "content_words",
    "holds_words",
    "is_file_like",
    "join_wrapped",
    "mask_quantities",
    "names",
    "numbers",
    "opposites",
    "parse_marker",
    "quantities",
    "split_sentences",
    "strip_markers",
    "with_labels",
    "word_forms",
    "word_run",
    "word_sequence",
]

# ---------------------------------------------------------------------------- letters of any script

#: A letter of any script, as a regular-expression class: "Goâve", "Léogâne" and "Ōsaka" are one word
#: each, as re's Unicode \b takes them to be ([A-Za-z] would cut "Goâve" into a name "Go" no line holds).
LETTER = r"[^\W\d_]"
#: A letter or a digit of any script.
ALNUM = r"[^\W_]"


def _letter_class(test) -> str:
    # Latin, Greek, Cyrillic, Armenian and their extended blocks: the scripts with letter case.
    chars = [chr(c) for block in (range(0x41, 0x530), range(0x1E00, 0x2000)) for c in block if test(chr(c))]
    return "[" + "".join(re.escape(c) for c in chars) + "]"


#: An upper-case letter ("É" of "État" too); LOWER, a lower-case one.
UPPER = _letter_class(str.isupper)
LOWER = _letter_class(lambda c: c.islower() and c.isalpha())

# ---------------------------------------------------------------------------- wrapped lines

_WORD_BREAK = "\u2010"  # a hyphen that broke a word to fit the line (loaders write soft hyphens so)


def join_wrapped(parts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The visual lines of one paragraph (as a PDF lays them out) joined into its text, and where each
    part lies in it (start, end). A word broken to fit ("compa\u2010" + "ny") is joined whole,
    "company"; a hyphenated word broken at its hyphen ("high-" + "profile") keeps it, "high-profile";
    other parts are joined by one space."""
    text, spans = "", []
    for part in parts:
        part = part.strip()
        starts_word = part[:1].isalnum()
        if text and text[-1] == _WORD_BREAK and starts_word:
            text = text[:-1]
            spans[-1] = (spans[-1][0], len(text))
        elif text and not (text[-1] == "-" and starts_word and text[-2:-1].isalnum()):
            text += " "
        spans.append((len(text), len(text) + len(part)))
        text += part
    return text, spans


# ---------------------------------------------------------------------------- citation markers

#: A bracketed marker "[...]" on one line; group 1 is its content.
MARKER = re.compile(r"\[([^\[\]\n]{1,300})\]")
_MARKER_WITH_SPACE = re.compile(r"[ \t]*\[[^\[\]\n]{1,300}\]")
# One citation inside a marker: "a.txt", "a.txt:6", "a.txt:6-8", "a.txt: lines 6-8", "report.pdf:p3:12-14".
_CITATION = re.compile(
    r"^(?P<source>[^:]+?)\s*"
    r"(?::\s*(?:p|page)\s*(?P<page>\d+)\s*)?"
    r"(?::\s*(?:lines?\s*)?(?P<start>\d+)(?:\s*[-–—]\s*(?P<end>\d+))?)?\s*$",
    re.I,
)
_MORE_LINES = re.compile(r"^(?:lines?\s*)?(?P<start>\d+)(?:\s*[-–—]\s*(?P<end>\d+))?$", re.I)
_EXTENSION = re.compile(r"[^./\s]\.[A-Za-z][A-Za-z0-9]{1,7}$")


@dataclass(slots=True)
class RawCitation:
    text: str  # what was written for this citation inside the brackets
    source: str | None
    start: int | None
    end: int | None
    page: int | None = None


def is_file_like(name: str) -> bool:
    """Whether a name could be a source path: it has a file extension (a.txt, report.pdf) or a "/"."""
    name = name.strip()
    return bool(name) and ("/" in name or bool(_EXTENSION.search(name)))


def parse_marker(content: str) -> list[RawCitation]:
    """The citations in the content of one [...] marker; none when nothing in it names a file."""
    out: list[RawCitation] = []
    for part in re.split(r"\s*[;,]\s*(?=\S)", content.strip()):
        part = part.strip().strip("`'\"")
        if not part:
            continue
        more = _MORE_LINES.match(part)
        if more and out:  # "[a.txt:3, 5]": another line (or range) of the same file
            start = int(more.group("start"))
            end = int(more.group("end")) if more.group("end") else start
            out.append(RawCitation(part, out[-1].source, start, end, out[-1].page))
            continue
        match = _CITATION.match(part)
        if not match or not is_file_like(match.group("source")):
            continue
        start = int(match.group("start")) if match.group("start") else None
        end = int(match.group("end")) if match.group("end") else start
        page = int(match.group("page")) if match.group("page") else None
        out.append(RawCitation(part, match.group("source").strip(), start, end, page))
    return out


def strip_markers(text: str) -> str:
    """The text without its bracketed markers (and the spaces before them)."""
    plain = _MARKER_WITH_SPACE.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", plain).strip()


def citation_label(source: str, start_line: int | None, end_line: int | None, page: int | None = None) -> str:
    """"[a.txt:6]", "[a.txt:6-8]"; on a page of a paged document "[report.pdf:p3:12-14]"; "[a.txt]" without lines."""
    parts = [source]
    if page is not None:
        parts.append(f"p{page}")
    if start_line is not None:
        end_line = start_line if end_line is None else end_line
        parts.append(str(start_line) if start_line == end_line else f"{start_line}-{end_line}")
    return f"[{':'.join(parts)}]"


def with_labels(sentence: str, labels: list[str]) -> str:
    """Put citation labels at the end of the sentence, before its closing punctuation."""
    if not labels:
        return sentence
    body, end = (sentence[:-1], sentence[-1]) if sentence and sentence[-1] in ".!?" else (sentence, "")
    # A tokenised source sentence ("... the Zambezi River .") keeps one space before its labels.
    return f"{body.rstrip()} {' '.join(labels)}{end}".strip()


# ---------------------------------------------------------------------------- sentences


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str  # the sentence, stripped
    start: int  # char offset of text in the input string
    end: int  # input[start:end] == text


# Where a sentence may end: a newline, or closing punctuation with any closing quotes or brackets.
_END = re.compile(r"\n|(?:\.\.\.|…|[.!?。！？])+[\"'”’)]*")
_MARKERS_AFTER = re.compile(r"(?:[ \t]*\[[^\[\]\n]{1,300}\])+")
_WIDE_END = frozenset("。！？")
# Words after which a period does not end a sentence, whatever follows.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st gen gov sen rep rev hon messrs mt ft inc ltd corp co plc llc bros
    vs approx dept est fig figs jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
# ...and after which it does not when a number follows ("No. 3", "p. 12").
_BEFORE_NUMBER = frozenset("no nos vol vols p pp art sec ch".split())
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$|^[A-Z]$")  # U.S, e.g, i.e, a.m, an initial "J"


def _ends_sentence(text: str, start: int, match: re.Match) -> bool:
    punct = match.group(0).rstrip("\"'”’)")
    if punct[-1] in _WIDE_END:
        return True
    if "…" in punct or ".." in punct:
        return False  # an ellipsis
    after = match.end()
    rest = text[after:]
    if rest and not rest[0].isspace() and not rest.startswith("["):
        return False  # "6.45", "a.txt", "U.S"
    following = rest.lstrip(" \t")
    if following[:1].islower():
        return False  # "approx. five", "e.g. the"
    if punct == ".":
        word = re.search(r"[\w.]*$", text[start : match.start()]).group(0).lower().strip(".")
        original = re.search(r"[\w.]*$", text[start : match.start()]).group(0)
        if word in _ABBREVIATIONS or _INITIALISM.match(original):
            return False
        if word in _BEFORE_NUMBER and following[:1].isdigit():
            return False
    return True


def split_sentences(text: str) -> list[Sentence]:
    """Split prose into sentences with their offsets.

    Sentences end at a newline or at closing punctuation followed by white space (or the end).
    Decimals ("6.45"), abbreviations ("U.S.", "Mr.", "Inc.", "e.g.", "No. 3"), ellipses and the
    inside of citation markers do not end one; a marker written after the period
    ("rose 8%. [a.txt:6] Net ...") belongs to the sentence before it.
    """
    markers = [m.span() for m in MARKER.finditer(text)]
    cuts: list[tuple[int, int]] = []  # (end of this sentence, start of the next)
    start = 0
    for match in _END.finditer(text):
        if match.start() < start or any(a <= match.start() < b for a, b in markers):
            continue
        if match.group(0) == "\n":
            cuts.append((match.start(), match.end()))
            start = match.end()
            continue
        if not _ends_sentence(text, start, match):
            continue
        end = match.end()
        trailing = _MARKERS_AFTER.match(text, end)
        if trailing:
            end = trailing.end()
        cuts.append((end, end))
        start = end
    cuts.append((len(text), len(text)))

    sentences = []
    begin = 0
    for end, next_begin in cuts:
        piece = text[begin:end]
        stripped = piece.strip()
        if stripped:
            offset = begin + len(piece) - len(piece.lstrip())
            sentences.append(Sentence(stripped, offset, offset + len(stripped)))
        begin = next_begin
    return sentences


# ---------------------------------------------------------------------------- numbers and quantities

_NUMBER = r"\d+(?:[.,]\d+)*"
_NUMBER_RE = re.compile(_NUMBER)
_CURRENCY_CODES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "us dollar": "USD", "us dollars": "USD",
    "¥": "CNY", "rmb": "CNY", "yuan": "CNY", "cny": "CNY", "renminbi": "CNY",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
}  # fmt: skip
_SCALE_NAMES = {
    "trillion": "trillion", "tn": "trillion", "billion": "billion", "bn": "billion", "b": "billion",
    "million": "million", "mn": "million", "m": "million", "thousand": "thousand", "k": "thousand",
}  # fmt: skip
# A number with what makes it a quantity: a currency before it; a scale, percent or currency word after it.
# A one-letter scale ("48.9b", "10k") is read straight after the digits, or after a space following a currency.
_QUANTITY_RE = re.compile(
    r"(?P<before>US\$|\$|¥|€|£|\b(?:RMB|CNY|USD|EUR|GBP)\b)?(?(before)\s?)"
    rf"(?P<num>{_NUMBER})"
    r"(?:\s?(?P<word>trillion|billion|million|thousand|bn|mn|tn)\b|(?(before)\s?)(?P<letter>[bmk])\b)?"
    r"(?:\s?(?P<percent>%|percent\b|per\s?cent\b)"
    r"|\s(?P<after>(?:US\s)?dollars?|yuan|renminbi|euros?|pounds?|usd|cny|rmb|eur|gbp)\b)?",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float  # 48.9 for "¥48.9 billion": the scale is not applied
    kind: str  # "%" | "money" | "count"
    currency: str | None  # "USD" | "CNY" | "EUR" | "GBP" | None
    scale: str  # "billion" | "million" | "trillion" | "thousand" | ""
    text: str
    start: int
    end: int

    @property
    def number(self) -> str:
        """The number as written, in canonical form ("1,234.50" -> "1234.5")."""
        return _canonical(_NUMBER_RE.search(self.text).group(0))


def _canonical(number: str) -> str:
    number = number.replace(",", "")
    return number.rstrip("0").rstrip(".") if "." in number else number


def quantities(text: str) -> list[Quantity]:
    """Every number in the text, with its kind, currency and scale, in order."""
    found = []
    for m in _QUANTITY_RE.finditer(text):
        currency_text = (m.group("before") or m.group("after") or "").lower()
        currency = _CURRENCY_CODES.get(" ".join(currency_text.split())) if currency_text else None
        kind = "%" if m.group("percent") else "money" if currency else "count"
        scale = _SCALE_NAMES[(m.group("word") or m.group("letter") or "").lower()] if (m.group("word") or m.group("letter")) else ""
        value = float(m.group("num").replace(",", ""))
        found.append(Quantity(value, kind, currency, scale, m.group(0), m.start(), m.end()))
    return found


def numbers(text: str) -> set[str]:
    """The numbers in the text, canonical: "1,234.50" -> "1234.5", "48.90" -> "48.9"."""
    return {_canonical(n) for n in _NUMBER_RE.findall(text)}


def mask_quantities(text: str) -> str:
    """The text with every number or quantity replaced by "X" ("grew 11% to $4.35 billion" -> "grew X to X")."""
    return _QUANTITY_RE.sub("X", text)


# ---------------------------------------------------------------------------- words and names

_WORD = re.compile(rf"{LETTER}(?:{LETTER}|['’-])*|{_NUMBER}")
_STOPWORDS = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been being it its this that these
    those there their they them he she his her has have had do does did not no so than then also into over under
    about after before during which who whom what when where why how all any both each more most other some such
    only own same too very can will would should could may might must just per via s""".split()
    # Legal forms say nothing a claim must match ("Alibaba Group Holding Ltd." quotes "Alibaba Group").
    + "ltd inc corp plc llc".split()
)
NOT_NAMES = frozenset(
    "The A An In On At For This That These Those It Its He She They I We You However Also And But Or".split()
    # A company's legal form names no one new: "Alibaba Group Holding Ltd." is the "Alibaba Group" of the line.
    + "Ltd Inc Corp Co Plc Llc LLC PLC Holding Holdings Limited Corporation Incorporated".split()
)
_stemmers = threading.local()  # a PyStemmer stemmer is not safe to share between threads


def _english_stemmer():
    """This thread's Snowball English stemmer (PyStemmer)."""
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        import Stemmer

        stemmer = _stemmers.english = Stemmer.Stemmer("english")
    return stemmer


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _english_stemmer().stemWord(word)


@lru_cache(maxsize=65536)
def _lemma(word: str) -> str:
    import simplemma

    return simplemma.lemmatize(word, lang="en")


_UNKNOWN_NAME_LETTERS = 6


def _folded(stem: str) -> str:
    """A stem without hyphens and accents: "e-commerce" is "ecommerce", "Beyonce" is "Beyoncé"."""
    return "".join(c for c in unicodedata.normalize("NFKD", stem.replace("-", "")) if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def _is_english(word: str) -> bool:
    import simplemma

    lowered = word.lower()
    return any(simplemma.is_known(part, lang="en") for part in (lowered, *re.split(r"['’-]", lowered)) if part)


_ANTONYMS = Path(__file__).resolve().parent / "data" / "antonyms.tsv"


@lru_cache(maxsize=1)
def _antonym_table() -> dict[str, frozenset[str]]:
    """WordNet's one-word antonym pairs (rag/data/antonyms.tsv, written by scripts/build_antonyms.py), both ways."""
    table: dict[str, set[str]] = {}
    for line in _ANTONYMS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            a, b = line.split("\t")
            table.setdefault(a, set()).add(b)
            table.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in table.items()}


def antonyms(word: str, other: str) -> bool:
    """Whether two words are each other's opposites in WordNet, in any form ("sold" and "buying",
    "husbands" and "wife"), which an embedding model may put as close as synonyms."""
    return bool(opposites(word) & word_forms(other))


@lru_cache(maxsize=65536)
def opposites(word: str) -> frozenset[str]:
    """The dictionary forms of the word's WordNet antonyms, for any of its forms (most words have none)."""
    table = _antonym_table()
    return frozenset().union(*(table.get(form, frozenset()) for form in word_forms(word)))


@lru_cache(maxsize=65536)
def word_forms(word: str) -> frozenset[str]:
    """A word as written (lower-cased), its dictionary form ("sold": "sell") and its stem ("buying": "buy")."""
    lowered = word.lower()
    return frozenset((lowered, _lemma(lowered), _stem(lowered)))


def lemmas(text: str) -> set[str]:
    """The dictionary forms of the text's words, lower-cased: "wrote" and "written" are "write",
    "children" is "child", which a stemmer keeps apart (simplemma's English table)."""
    return {_lemma(word.lower()) for word in re.findall(f"{LETTER}+", text)}


def word_sequence(text: str) -> list[str]:
    """The content words of the text in order: lower-cased, stemmed, stop words removed, numbers canonical."""
    found = []
    for word in _WORD.findall(text):
        if word[0].isdigit():
            found.append(_canonical(word))
            continue
        word = word.lower().replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) > 1 and word not in _STOPWORDS:
            found.append(_stem(word))
    return found


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words without stop words, and the numbers in canonical form."""
    return set(word_sequence(text))


def question_word_coverage(question: str, texts: list[str]) -> list[float]:
    """For each text, the share of the question's content words it uses, each word weighted by its
    inverse frequency among `texts` (a word every text uses says nothing about which one answers)."""
    asked = content_words(question)
    used = [content_words(text) for text in texts]
    weights = {w: math.log(1 + len(texts) / (1 + sum(w in words for words in used))) for w in asked}
    total = sum(weights.values())
    if not total:
        return [0.0] * len(texts)
    return [sum(weight for w, weight in weights.items() if w in words) / total for words in used]


def names(text: str) -> set[str]:
    """Capitalised words that name people, companies or places (lower-cased).

    A capitalised word that is not the first of the text counts; the first word counts when it is
    plainly a name: possessive ("Tencent's ...") or capitalised inside ("OpenAI", "ByteDance").
    """
    words = re.findall(rf"(?<![.!?]\s)(?<!^)\b{UPPER}{LETTER}+", text.strip())
    found = {w.lower() for w in words if w not in NOT_NAMES}
    first = re.match(rf"[\"“(]?({UPPER}{LETTER}+)(['’]s\b)?", text.strip())
    if first and first.group(1) not in NOT_NAMES and (first.group(2) or not first.group(1)[1:].islower()):
        found.add(first.group(1).lower())
    return found


# Keeps decimals and thousands together ("48.9", "1,000") so numbers match exactly.
BM25_TOKEN_PATTERN = r"(?u)\b\w+(?:[.,]\d+)*\b"
_bm25_split = re.compile(BM25_TOKEN_PATTERN).findall


@lru_cache(maxsize=1)
def _bm25_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def bm25_terms(text: str) -> list[str]:
    """The terms BM25 indexes and searches: lower case, numbers whole, English stopwords out,
    Snowball stems; the same as bm25s.tokenize makes of the corpus, so every store scores alike."""
    stopwords = _bm25_stopwords()
    return _english_stemmer().stemWords([t for t in _bm25_split(text.lower()) if t not in stopwords])


_TITLE_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")  # "Safe Haven (film)"


def word_run(text: str) -> str:
    """The text's words (letters and digits of any script) in lower case, one space apart, so two
    texts compare word for word whatever their punctuation and spacing ("Guy 's" and "Guy's")."""
    return " ".join(re.findall(f"{ALNUM}+", text.lower()))


def holds_words(text: str, run: str) -> bool:
    """Whether `text` holds the words of `run` (a `word_run`) together and in order."""
    return f" {run} " in f" {word_run(text)} "


def _title_run(title: str | None) -> str | None:
    """A document title as the words a question names its subject by: without a qualifier in
    brackets or a leading article ("the rap game" -> "rap game"), and only when two content words
    or more are left (a one-word title is only a word; the rarest-word rules weigh those)."""
    words = word_run(_TITLE_QUALIFIER.sub("", title or "")).split()
    if words and words[0] in ("the", "a", "an"):
        words = words[1:]
    run = " ".join(words)
    return run if len(content_words(run)) >= 2 else None


_NAME_USES, _NAME_SHARE = 3, 0.8  # chosen on every ClapNQ dev answer the reports hold (evals/README.md, round 9)
_AFTER_SENTENCE_START = re.compile(r"(?:^|[.!?:\"“(‘'])\s*$")


def _words_inside_sentences(text: str) -> Iterator[str]:
    """The text's words that do not open a sentence, a line, a quote or a parenthesis, where
    capitals say nothing about names."""
    for line in text.split("\n"):
        for match in re.finditer(f"{LETTER}+", line):
            if not _AFTER_SENTENCE_START.search(line[max(0, match.start() - 8) : match.start()]):
                yield match.group(0)


class DocumentFrequencies:
    """How many documents use each content word. The rarer a word of a question is in the corpus,
    the more it says what the question is about ("shubin", "skepticism" rather than "call", "body").

    Also how the corpus writes each word inside a sentence, for the words it ever capitalises
    there: a word it nearly always capitalises ("york", "zimbabwe") is a name, even when a
    question is typed in lower case."""

    def __init__(self, documents: Iterable[str], titles: Iterable[str | None] = ()):
        self.counts: dict[str, int] = {}
        self.documents = 0
        capitalised: dict[str, int] = {}
        written: dict[str, int] = {}
        for text in documents:
            self.documents += 1
            for word in content_words(text):
                self.counts[word] = self.counts.get(word, 0) + 1
            for word in _words_inside_sentences(text):
                lowered = word.lower()
                written[lowered] = written.get(lowered, 0) + 1
                if word[0].isupper():
                    capitalised[lowered] = capitalised.get(lowered, 0) + 1
        self.capitalised = capitalised  # word -> times written capitalised inside a sentence
        self.written = {w: written[w] for w in capitalised}  # ... and times written there at all
        # read after the documents: a caller may collect the titles while they are read
        self.titles = sorted({run for run in map(_title_run, titles) if run})

    def to_dict(self) -> dict:
        """The frequencies as JSON-ready data (an index store keeps them)."""
        return {"counts": self.counts, "documents": self.documents, "capitalised": self.capitalised, "written": self.written,
                "titles": self.titles}

    @classmethod
    def from_dict(cls, stored: dict) -> "DocumentFrequencies":
        """The frequencies `to_dict` gave (a store written before names or titles were kept has none)."""
        frequencies = cls(())
        frequencies.counts, frequencies.documents = stored["counts"], stored["documents"]
        frequencies.capitalised, frequencies.written = stored.get("capitalised", {}), stored.get("written", {})
        frequencies.titles = stored.get("titles", [])
        return frequencies

    @cached_property
    def _titles_by_first_word(self) -> dict[str, list[str]]:
        by_first: dict[str, list[str]] = {}
        for run in self.titles:
            by_first.setdefault(run.split(" ", 1)[0], []).append(run)
        return by_first

    def titles_named(self, text: str) -> list[str]:
        """The documents' titles that `text` names word for word, case and punctuation aside ("what
        does the winner of the rap game get" names "The Rap Game"): a question so worded is about
        that title's subject."""
        run = word_run(text)
        words = set(run.split())
        return [title for word in sorted(words & self._titles_by_first_word.keys())
                for title in self._titles_by_first_word[word] if f" {title} " in f" {run} "]

    def names_in_lower_case(self, text: str) -> list[str]:
        """The words `text` writes in lower case that the corpus writes as names: capitalised in at
        least 80% of at least 3 uses inside a sentence ("new york colony"; not "cloud", which a
        corpus about Alibaba Cloud also writes alone)."""
        found = []
        for word in re.findall(f"{LETTER}{{3,}}", text):
            uses = self.written.get(word, 0)
            if word.islower() and word not in _STOPWORDS and uses >= _NAME_USES and self.capitalised[word] >= _NAME_SHARE * uses:
                found.append(word)
        return list(dict.fromkeys(found))

    def unknown_names(self, text: str) -> list[str]:
        """The words of `text` that no document uses in any form and that are no English word (the
        dictionary of simplemma): names the documents never mention ("qantas" in a corpus about Air
        New Zealand), which no passage can answer a question about. Hyphens and accents aside
        ("Beyonce" is "Beyoncé"). Words of fewer than 6 letters are left out (often initials a
        document may spell out: CEO, NYSE), and so are the digits of a word (a model number is
        written in too many ways) and every word when there are no documents."""
        if not self.documents:
            return []
        found = []
        for word in re.findall(rf"{LETTER}+(?:['’-]{LETTER}+)*", text):
            word = re.sub(r"['’]s$", "", word)
            stems = word_sequence(word)
            if len(re.findall(LETTER, word)) < _UNKNOWN_NAME_LETTERS or not stems:
                continue
            # the stemmer cuts "beyonce" and "beyoncé" differently: the folded word is tried whole too
            forms = {_folded(form) for form in (*stems, *word_sequence(_folded(word)), word.lower())}
            if not forms & self._stems and not _is_english(word):
                found.append(word)
        return list(dict.fromkeys(found))

    @cached_property
    def _stems(self) -> frozenset[str]:
        """The content words the documents use, folded as `_folded` does."""
        return frozenset(map(_folded, self.counts))

    def most_specific(self, text: str, n: int, max_share: float, ignore: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """The n rarest content words of `text` among those that at most `max_share` of the documents
        use, rarest first, and any as rare as the n-th (ties are not broken by chance). A word no
        document uses is left out (an answer's evidence cannot be asked to use it), and so is every
        word of a corpus too small for any word to be rare (five documents: each word is in 20%)."""
        limit = max_share * self.documents
        used = sorted(
            (w for w in content_words(text) - set(ignore) if 0 < self.counts.get(w, 0) <= limit and not w[0].isdigit()),
            key=lambda w: (self.counts[w], w),
        )
        if len(used) <= n:
            return used
        return [w for w in used if self.counts[w] <= self.counts[used[n - 1]]]
