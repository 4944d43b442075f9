"""Finding where retrieved sources disagree with a verified answer sentence.

A small model tends to report one figure when two sources give different ones
(Alibaba Cloud grew 11% in one article, 13% in another). After verification,
each answer sentence with a percentage or an amount of money is compared with
the retrieved sentences of *other* sources that state a figure of the same
kind (same unit, same currency) but a different value. When such a sentence
says the same thing with the figures masked (embedding similarity at or
above `CONFLICT_MIN_SIMILARITY`) and names everything the answer sentence
names, the service adds it, quoted and cited, so the reader sees both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.citations import ContextLine, names

CONFLICT_MIN_SIMILARITY = 0.78  # measured on the seed articles: same-claim pairs 0.82-0.83, different claims <= 0.73
_MAX_QUOTE_CHARS = 220
_CURRENCIES = {"$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "¥": "CNY", "rmb": "CNY",
               "yuan": "CNY", "cny": "CNY", "€": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "pounds": "GBP"}
_SCALES = {"bn": "billion", "b": "billion", "billion": "billion", "m": "million", "mn": "million", "million": "million",
           "trillion": "trillion", "tn": "trillion", "": ""}
_NUMBER = r"(\d+(?:[.,]\d+)*)"
_PERCENT = re.compile(_NUMBER + r"\s?(?:%|percent\b|per cent\b)", re.I)
_MONEY_BEFORE = re.compile(r"(US\$|\$|¥|RMB|€|£)\s?" + _NUMBER + r"(?:\s?(billion|million|trillion|bn|mn|tn|b|m)\b)?", re.I)
_MONEY_AFTER = re.compile(_NUMBER + r"\s?(billion|million|trillion)\s(dollars|yuan|euros|pounds|usd|cny|rmb)\b", re.I)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?](?!\d)|$)")


@dataclass(frozen=True)
class Figure:
    kind: tuple  # ("%",) or ("money", currency, scale)
    value: float
    text: str
    start: int
    end: int


def figures(text: str) -> list[Figure]:
    found = []
    for m in _PERCENT.finditer(text):
        found.append(Figure(("%",), _value(m.group(1)), m.group(0), m.start(), m.end()))
    for m in _MONEY_BEFORE.finditer(text):
        kind = ("money", _CURRENCIES[m.group(1).lower()], _SCALES[(m.group(3) or "").lower()])
        found.append(Figure(kind, _value(m.group(2)), m.group(0), m.start(), m.end()))
    for m in _MONEY_AFTER.finditer(text):
        kind = ("money", _CURRENCIES[m.group(3).lower()], _SCALES[m.group(2).lower()])
        found.append(Figure(kind, _value(m.group(1)), m.group(0), m.start(), m.end()))
    return found


def _value(number: str) -> float:
    return float(number.replace(",", ""))


def mask_figures(text: str) -> str:
    for figure in sorted(figures(text), key=lambda f: -f.start):
        text = text[: figure.start] + "X" + text[figure.end :]
    return re.sub(r"\d+(?:[.,]\d+)*", "X", text)


def _quote(sentence: str, figure: Figure) -> str:
    sentence = sentence.strip()
    if len(sentence) <= _MAX_QUOTE_CHARS:
        return sentence
    centre = figure.start + len(sentence) - len(sentence.lstrip())
    start = max(0, centre - _MAX_QUOTE_CHARS // 2)
    start = sentence.rfind(" ", 0, start) + 1 if start else 0
    end = sentence.find(" ", min(len(sentence), start + _MAX_QUOTE_CHARS))
    end = len(sentence) if end == -1 else end
    return ("…" if start else "") + sentence[start:end].strip() + ("…" if end < len(sentence) else "")


@dataclass
class Disagreement:
    sentence: str  # the answer sentence it disagrees with
    line: ContextLine
    quote: str
    figure: str
    similarity: float

    @property
    def text(self) -> str:
        return f'Another source gives a different figure ({self.figure}): "{self.quote}"'


def find_disagreements(
    sentences: list[tuple[str, set[str]]], context: list[ContextLine], encode
) -> list[Disagreement]:
    """For (answer sentence, sources it cites) pairs, the best disagreeing context sentence of each."""
    found: list[Disagreement] = []
    candidates = [
        (line, part.group(0))
        for line in context
        for part in _SENTENCE.finditer(line.text)
        if figures(part.group(0))
    ]
    if not candidates:
        return found
    candidate_vectors = None
    for sentence, cited_sources in sentences:
        claimed = figures(sentence)
        if not claimed:
            continue
        kinds = {f.kind for f in claimed}
        values = {(f.kind, f.value) for f in claimed}
        required_names = names(sentence)
        options = []
        for index, (line, part) in enumerate(candidates):
            if line.source in cited_sources:
                continue
            other = [f for f in figures(part) if f.kind in kinds and (f.kind, f.value) not in values]
            if other and all(n in part.lower() for n in required_names):
                options.append((index, other[0]))
        if not options:
            continue
        if candidate_vectors is None:
            candidate_vectors = encode([mask_figures(part) for _, part in candidates])
        sentence_vector = encode([mask_figures(sentence)])[0]
        scored = [(float(candidate_vectors[i] @ sentence_vector), i, figure) for i, figure in options]
        similarity, index, figure = max(scored, key=lambda item: item[0])
        if similarity >= CONFLICT_MIN_SIMILARITY:
            line, part = candidates[index]
            found.append(Disagreement(sentence, line, _quote(part, figure), figure.text.strip(), round(similarity, 4)))
    return found

