"""The shapes that pass between stages and out to users (see shared INTERFACE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter

from rag.text import citation_label


@dataclass(slots=True)
class Chunk:
    """A piece of one file: whole lines start..end, or part of one long line.

    `text` is exactly lines[start_line-1 : end_line] joined by "\\n", or, when
    start_char/end_char are set (then start_line == end_line), exactly
    line[start_char:end_char].
    """

    source: str
    start_line: int
    end_line: int
    text: str
    start_char: int | None = None
    end_char: int | None = None
    boilerplate: bool = False

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "text": self.text,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "boilerplate": self.boilerplate,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        return cls(**data)


class Passage(BaseModel):
    """A retrieved span, cited as `[source:start_line-end_line]`, or `[source:pN:start_line-end_line]` on
    page N of a paged document (its lines are then numbered within the page)."""

    source: str = Field(examples=["002_9fd4f84746180eec.txt"])
    start_line: int = Field(ge=1, examples=[6])
    end_line: int = Field(ge=1, examples=[6])
    page: int | None = Field(None, ge=1, description="Page of a paged document; lines are numbered within it.")
    text: str
    score: float = 0.0
    start_char: int | None = None
    end_char: int | None = None
    dense_score: float | None = Field(None, description="Cosine similarity of the best chunk to the question.")

    @property
    def label(self) -> str:
        return citation_label(self.source, self.start_line, self.end_line, self.page)


_PASSAGE_LIST = TypeAdapter(list[Passage])


def passages_json(passages: list[Passage]) -> bytes:
    """A list of passages as the API sends it."""
    return _PASSAGE_LIST.dump_json(passages)


class Span(BaseModel):
    """The words inside one cited line that support a claim: line[start_char:end_char]."""

    line: int = Field(ge=1)
    start_char: int = Field(ge=0)
    end_char: int = Field(ge=0)


class Citation(BaseModel):
    source: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    page: int | None = Field(None, ge=1, description="Page of a paged document; lines are numbered within it.")
    quote: str = Field(description="The exact text of the cited lines.")
    verified: bool
    support: float | None = Field(None, description="Probability that the cited lines state the sentence.")
    repaired: bool = Field(False, description="The model cited another place (or none); the service found this one.")
    spans: list[Span] = Field(default_factory=list, description="The supporting words inside the cited lines.")
    checks: dict[str, float] = Field(
        default_factory=dict,
        description="Evidence of the claim check: states (the lines state the sentence), answers (the lines let the model answer the question).",
    )

    @property
    def label(self) -> str:
        return citation_label(self.source, self.start_line, self.end_line, self.page)


class SentenceCheck(BaseModel):
    text: str
    supported: bool
    citations: list[str] = Field(default_factory=list, description="Labels of the verified citations.")
    reason: str | None = Field(None, description="Why an unsupported sentence was held back.")
    written: str | None = Field(
        None, description="What the model wrote, when it quoted part of a sentence, gave a bare answer (\"Lake Kariba.\") or "
        "restated its line in the question's words, and the whole source sentence is shown instead."
    )


class AnswerSentence(BaseModel):
    """One sentence of an answer, sent as soon as it is complete and has passed the claim check."""

    text: str = Field(description="The sentence with its citation labels.")
    sentence: SentenceCheck
    citations: list[Citation] = Field(default_factory=list, description="The citations this sentence carries.")


AnswerStatus = Literal["answered", "not_found", "declined", "unverified", "model_unavailable"]
NOT_IN_DOCUMENTS: frozenset[str] = frozenset({"not_found", "declined"})


class Answer(BaseModel):
    answer: str
    answerable: bool
    status: AnswerStatus = Field(
        "answered",
        description=(
            "answered (every shown sentence passed the claim check); not_found (nothing relevant retrieved, or the "
            "question names a word no document uses; model not called) and declined (the model said the passages do not answer): the documents do not hold the "
            "answer; unverified (related passages found, but no sentence that answers the question could be "
            "checked against them); model_unavailable (an error: the model failed; passages are still returned)"
        ),
    )
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    sentences: list[SentenceCheck] = Field(default_factory=list)
    model: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=dict, description="prompt_tokens and completion_tokens.")
    decline_probability: float | None = Field(
        None,
        description=(
            "The model's probability, read before it writes, of replying that the passages do not answer; "
            "at or above the decline threshold the answer is declined. Null when it was not read (the model "
            "was not called, or a remote provider with the gate off)."
        ),
    )
