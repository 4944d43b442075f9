"""Finding where retrieved sources disagree with a verified answer sentence.

A small model tends to report one figure when two sources give different ones
(Alibaba Cloud grew 11% in one article, 13% in another). After verification,
each answer sentence with a percentage or an amount of money is compared with
the retrieved sentences of *other* sources that state a figure of the same
kind (same unit, same currency) but a different value, and not the answer's own
figure too (then the other figure is about something else). When such a sentence
says the same thing with the figures masked (embedding similarity at or
above `CONFLICT_MIN_SIMILARITY`) and names everything the answer sentence
names, the service adds it, quoted and cited, so the reader sees both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.citations import ContextLine
from rag.text import Quantity, mask_quantities, names, quantities, split_sentences

CONFLICT_MIN_SIMILARITY = 0.78  # measured on the seed articles: same-claim pairs 0.82-0.83, different claims <= 0.73
_MAX_QUOTE_CHARS = 220


def figures(text: str) -> list[Quantity]:
    """The percentages and amounts of money in the text: the figures sources can disagree on."""
    return [q for q in quantities(text) if q.kind != "count"]


def _kind(figure: Quantity) -> tuple:
    """What must match for two figures to be comparable: the unit, and for money its currency and scale."""
    return (figure.kind,) if figure.kind == "%" else (figure.kind, figure.currency, figure.scale)


def _quote(sentence: str, figure: Quantity) -> str:
    if len(sentence) <= _MAX_QUOTE_CHARS:
        return sentence
    centre = figure.start
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
        (line, part.text)
        for line in context
        for part in split_sentences(line.text)
        if figures(part.text)
    ]
    if not candidates:
        return found
    candidate_vectors = None
    for sentence, cited_sources in sentences:
        claimed = figures(sentence)
        if not claimed:
            continue
        kinds = {_kind(f) for f in claimed}
        values = {(_kind(f), f.value) for f in claimed}
        required_names = names(sentence)
        options = []
        for index, (line, part) in enumerate(candidates):
            if line.source in cited_sources:
                continue
            given = figures(part)
            if any((_kind(f), f.value) in values for f in given):
                continue  # it gives the sentence's own figure: its other figures are about something else
            other = [f for f in given if _kind(f) in kinds]
            if other and all(n in part.lower() for n in required_names):
                options.append((index, other[0]))
        if not options:
            continue
        if candidate_vectors is None:
            candidate_vectors = encode([mask_quantities(part) for _, part in candidates])
        sentence_vector = encode([mask_quantities(sentence)])[0]
        scored = [(float(candidate_vectors[i] @ sentence_vector), i, figure) for i, figure in options]
        similarity, index, figure = max(scored, key=lambda item: item[0])
        if similarity >= CONFLICT_MIN_SIMILARITY:
            line, part = candidates[index]
            found.append(Disagreement(sentence, line, _quote(part, figure), figure.text.strip(), round(similarity, 4)))
    return found

