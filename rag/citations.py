"""Citations the service owns: parse what the model wrote, check it, repair or drop it.

The model is only trusted to point roughly at a place. Every citation is
mapped to lines that were actually given to the model, and each sentence is
checked against the lines it cites with an explicit support score:

    support = 0.4 * (share of the sentence's content words found in the lines)
            + 0.6 * max(0, cosine similarity of sentence and lines)

capped at 0.2 when a number in the sentence is missing from the lines and
halved for each of its names (capitalised words) missing from them. Numbers
the sentence repeats from the question need not be on the cited line when the
cited document states them elsewhere.
A citation is verified when its support reaches `citation_min_support`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.types import Citation, SentenceCheck, citation_label

_MARKER = re.compile(r"\[([^\[\]\n]{1,300})\]")
_RANGE = re.compile(r"^(?P<source>.*?)(?::\s*(?:lines?\s*)?(?P<start>\d+)(?:\s*[-–]\s*(?P<end>\d+))?)?$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?!\[)|\n+")
# "Revenue rose 8%. [a.txt:6] Net income ...": a marker after the period still closes its sentence.
_MARKERS_AFTER_END = re.compile(r"([.!?](?:[ \t]*\[[^\[\]\n]{1,300}\])+)[ \t]+(?=\S)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A number with what makes it a quantity: a currency before it, a scale, unit or percent after it.
_QUANTITY = re.compile(
    r"(US\$|\$|¥|€|£|RMB\s?)?(\d+(?:[.,]\d+)*)(\s?(?:%|percent\b|per cent\b|billion\b|million\b|trillion\b|bn\b|yuan\b|dollars\b))?",
    re.I,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been being it its this that these
    those there their they them he she his her has have had do does did not no so than then also into over under
    about after before during which who whom what when where why how all any both each more most other some such
    only own same too very can will would should could may might must just per via s""".split()
)
_NOT_NAMES = frozenset("The A An In On At For This That These Those It Its He She They I We You However Also And But Or".split())
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

    @property
    def label(self) -> str:
        return citation_label(self.source, self.line, self.line)


@dataclass(slots=True)
class RawCitation:
    text: str  # what the model wrote inside the brackets
    source: str | None
    start: int | None
    end: int | None


@dataclass
class ParsedSentence:
    text: str  # with the markers removed
    citations: list[RawCitation] = field(default_factory=list)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


def _parse_marker(content: str, n_context: int) -> list[RawCitation]:
    out = []
    for part in re.split(r"\s*[;,]\s*(?=\S)", content.strip()):
        part = part.strip().strip("`'\"")
        if not part:
            continue
        if part.isdigit() and n_context and int(part) <= n_context:
            out.append(RawCitation(part, None, int(part), None))  # [1]-style: the n-th context line
            continue
        match = _RANGE.match(part)
        if not match or not match.group("source"):
            if out and part.isdigit() and out[-1].source:  # "[a.txt:3, 5]": another line of the same file
                out.append(RawCitation(part, out[-1].source, int(part), int(part)))
            continue
        start = int(match.group("start")) if match.group("start") else None
        end = int(match.group("end")) if match.group("end") else start
        out.append(RawCitation(part, match.group("source").strip(), start, end))
    return out


def parse_answer(text: str, n_context: int = 0) -> list[ParsedSentence]:
    """Split an answer into sentences, each with the citation markers it carries."""
    sentences = []
    for chunk in _SENTENCE_END.split(_MARKERS_AFTER_END.sub("\\1\n", text.strip())):
        if not chunk.strip():
            continue
        citations: list[RawCitation] = []
        for match in _MARKER.finditer(chunk):
            citations.extend(_parse_marker(match.group(1), n_context))
        plain = " ".join(_MARKER.sub(" ", chunk).split())
        plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
        if plain or citations:
            sentences.append(ParsedSentence(plain, citations))
    return sentences


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "ies", "es", "s", "ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in _STOPWORDS and len(w) > 1 or w.isdigit()}


def _canonical_number(n: str) -> str:
    n = n.replace(",", "")
    return n.rstrip("0").rstrip(".") if "." in n else n


def numbers(text: str) -> set[str]:
    return {_canonical_number(n) for n in _NUMBER.findall(text)}


def quantities(text: str) -> set[tuple[str, str]]:
    """(number, kind) pairs: kind is "%", "amount" (currency or scale word) or "count" (a bare number),
    so 380 new data centres is not supported by "380 billion yuan"."""
    found = set()
    for match in _QUANTITY.finditer(text):
        unit = (match.group(3) or "").strip().lower()
        kind = "%" if unit in ("%", "percent", "per cent") else "amount" if match.group(1) or unit else "count"
        found.add((_canonical_number(match.group(2)), kind))
    return found


def names(text: str) -> set[str]:
    """Capitalised words that are not the first word of the text: people, companies, places."""
    words = re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z]+", text.strip())
    found = {w.lower() for w in words if w not in _NOT_NAMES}
    # The first word counts too when it is plainly a name: possessive ("Tencent's ...") or
    # capitalised inside ("OpenAI", "ByteDance"); otherwise a sentence's subject escapes the check.
    first = re.match(r"[\"“(]?([A-Z][A-Za-z]+)(['’]s\b)?", text.strip())
    if first and first.group(1) not in _NOT_NAMES and (first.group(2) or not first.group(1)[1:].islower()):
        found.add(first.group(1).lower())
    return found


def carries_numbers(sentence: str, lines_text: str, exempt: frozenset[str] = frozenset()) -> bool:
    """Every number the sentence claims, other than `exempt` ones, is in the lines as the same kind of quantity."""
    return all(number in exempt for number, _ in quantities(sentence) - quantities(lines_text))


@dataclass(frozen=True)
class Given:
    """Numbers the sentence may repeat from the question without the cited line holding them, because
    the cited document states them elsewhere ("in the fourth quarter of 2024"). Names get no such
    leniency: the question's subject ("Tencent") must be on the cited line itself."""

    numbers: frozenset[str] = frozenset()

    @classmethod
    def from_question(cls, question: str, source_text: str) -> "Given":
        return cls(numbers=frozenset(numbers(question) & numbers(source_text)))


class SupportScorer:
    """Scores how well lines support a sentence (see the module docstring)."""

    def __init__(self, encode, threshold: float):
        self.encode = encode
        self.threshold = threshold

    def score(
        self,
        sentence: str,
        sentence_vector: np.ndarray,
        lines_text: str,
        lines_vector: np.ndarray,
        evidence_text: str | None = None,
        given: Given = Given(),
    ) -> float:
        """Support of `lines_text` for `sentence`; words, numbers and names are looked up in
        `evidence_text` (all lines the sentence cites) when given. `given` numbers and names
        (from the question, stated elsewhere in the same source) need not be in the lines."""
        lines_text = evidence_text if evidence_text is not None else lines_text
        words = content_words(sentence)
        line_words = content_words(lines_text)
        lexical = len(words & line_words) / len(words) if words else 0.0
        cosine = float(np.dot(sentence_vector, lines_vector))
        support = 0.4 * lexical + 0.6 * max(0.0, cosine)
        if not carries_numbers(sentence, lines_text, given.numbers):
            support = min(support, 0.2)
        claimed_names = names(sentence)
        if claimed_names:
            line_lower = lines_text.lower()
            missing = sum(1 for n in claimed_names if n not in line_lower)
            support *= 0.5**missing  # each name the lines lack halves it (a claim about another entity)
        return round(support, 4)


@dataclass
class VerifiedAnswer:
    text: str
    citations: list[Citation]
    sentences: list[SentenceCheck]
    dropped: int  # citations removed because nothing retrieved supports them
    repaired: int


class CitationVerifier:
    """Maps each citation to context lines, verifies support, repairs or drops it."""

    def __init__(self, scorer: SupportScorer, documents: dict[str, Sequence[str]], question: str = ""):
        self.scorer = scorer
        self.documents = documents
        self.question = question
        self._given: dict[str, Given] = {}

    def resolve_source(self, name: str, sources: Sequence[str]) -> str | None:
        """Tolerate shortened or mis-cased names when they match one retrieved source unambiguously."""
        if name in sources:
            return name
        lowered = name.lower()
        for match in (
            lambda s: s.lower() == lowered,
            lambda s: s.rsplit("/", 1)[-1].lower() == lowered,
            lambda s: s.lower().startswith(lowered.rsplit(".", 1)[0]),
            lambda s: lowered.rsplit(".", 1)[0] in s.lower(),
        ):
            found = [s for s in sources if match(s)]
            if len(found) == 1:
                return found[0]
        return None

    def verify(self, answer_text: str, context: list[ContextLine], line_vectors: np.ndarray) -> VerifiedAnswer:
        sentences = parse_answer(answer_text, len(context))
        for source in {c.source for c in context}:
            source_text = "\n".join(self.documents[source])
            self._given[source] = Given.from_question(self.question, source_text)
        by_label = {(c.source, c.line): i for i, c in enumerate(context)}
        sources = sorted({c.source for c in context})
        claims = [s.text for s in sentences]
        claim_vectors = self.scorer.encode(claims) if claims else np.zeros((0, line_vectors.shape[1]))
        citations: dict[tuple, Citation] = {}
        checks: list[SentenceCheck] = []
        rendered: list[str] = []
        dropped = repaired = 0

        for sentence, vector in zip(sentences, claim_vectors):
            chosen = self._check_citations(sentence, vector, context, line_vectors, sources, by_label)
            dropped += len(sentence.citations) - len(chosen)
            claim = sentence.text and not is_refusal(sentence.text) and content_words(sentence.text)
            # A sentence that cites only sources never shown to the model (an invented or injected
            # label such as [secret.txt:1]) is dropped, not re-pointed at whatever line matches its words.
            invented = bool(sentence.citations) and all(
                raw.source is not None and self.resolve_source(raw.source, sources) is None for raw in sentence.citations
            )
            if not chosen and claim and len(context) and not invented:
                repair = self._best_supporting_line(sentence.text, vector, context, line_vectors)
                if repair is not None:
                    chosen.append((*repair, True))
                    repaired += 1
            labels = []
            for index, support, was_repaired in chosen:
                line = context[index]
                key = (line.source, line.line)
                if key not in citations:
                    citations[key] = Citation(
                        source=line.source,
                        start_line=line.line,
                        end_line=line.line,
                        quote=self.documents[line.source][line.line - 1],
                        verified=True,
                        support=support,
                        repaired=was_repaired,
                    )
                if line.label not in labels:
                    labels.append(line.label)
            checks.append(SentenceCheck(text=sentence.text, supported=bool(labels), citations=labels))
            rendered.append(with_labels(sentence.text, labels))
        text = " ".join(r for r in rendered if r)
        return VerifiedAnswer(text, list(citations.values()), checks, max(dropped, 0), repaired)

    def _check_citations(self, sentence, vector, context, line_vectors, sources, by_label) -> list[tuple[int, float, bool]]:
        """For each citation, the best cited line that supports the sentence; unsupported ones are left out.

        Numbers and names are checked against all lines the sentence cites together, so
        "11% [a.txt:2] and 13% [b.txt:19]" is verified line by line.
        """
        cited_sets = [self._cited_context(raw, sources, by_label, context) for raw in sentence.citations]
        every = sorted({i for cited in cited_sets for i in cited})
        if not every:
            return []
        evidence = " ".join(context[i].text for i in every)
        chosen: dict[int, float] = {}
        for cited in cited_sets:
            scored = [
                (self.scorer.score(sentence.text, vector, context[i].text, line_vectors[i], evidence, self._given[context[i].source]), i)
                for i in cited
            ]
            if scored:
                support, best = max(scored)
                if support >= self.scorer.threshold:
                    chosen[best] = max(support, chosen.get(best, 0.0))
        kept = " ".join(context[i].text for i in chosen)
        exempt = frozenset().union(*(self._given[context[i].source].numbers for i in chosen))
        if chosen and not carries_numbers(sentence.text, kept, exempt):  # the kept lines alone must hold every number
            return []
        return [(i, support, False) for i, support in chosen.items()]

    def _best_supporting_line(self, sentence: str, vector, context, line_vectors) -> tuple[int, float] | None:
        scores = [
            self.scorer.score(sentence, vector, c.text, line_vectors[i], given=self._given[c.source]) for i, c in enumerate(context)
        ]
        best = int(np.argmax(scores))
        return (best, float(scores[best])) if scores[best] >= self.scorer.threshold else None

    def _cited_context(
        self, raw: RawCitation, sources: Sequence[str], by_label: dict, context: list[ContextLine]
    ) -> list[int]:
        """Indexes of the context lines a citation names (empty when it names nothing retrieved)."""
        if raw.source is None:  # [n]
            return [raw.start - 1] if raw.start and raw.start <= len(context) else []
        source = self.resolve_source(raw.source, sources)
        if source is None:
            return []
        if raw.start is None:
            return [i for i, c in enumerate(context) if c.source == source]
        low, high = sorted((raw.start, raw.end or raw.start))
        return [i for (s, line), i in by_label.items() if s == source and low <= line <= high]


def with_labels(sentence: str, labels: list[str]) -> str:
    """Put citation labels at the end of the sentence, before its closing punctuation."""
    if not labels:
        return sentence
    body, end = (sentence[:-1], sentence[-1]) if sentence and sentence[-1] in ".!?" else (sentence, "")
    return f"{body} {' '.join(labels)}{end}".strip()
