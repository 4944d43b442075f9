"""Golden question files (JSON Lines, format in docs/golden.md): loading and validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from rag.errors import InputError
from rag.text import citation_label

__all__ = ["Evidence", "GoldenQuestion", "load_golden", "parse_golden_line", "norm_source"]


def norm_source(source: str) -> str:
    """A source path as golden files and passages are compared: `/` separators, no leading `./`."""
    source = str(source).strip().replace("\\", "/")
    while source.startswith("./"):
        source = source[2:]
    return source


class Evidence(BaseModel):
    """A span supporting the answer; `lines` None means anywhere in `source` (or in `page` of it).

    `page` (1-based) is set for paged documents (PDF); then `lines` are numbered within that page.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str
    lines: tuple[int, int] | None = None
    page: int | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        value = norm_source(value)
        if not value:
            raise ValueError("evidence source is empty")
        return value

    @field_validator("lines", mode="before")
    @classmethod
    def _lines_before(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value, value)
        return value

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return None
        start, end = value
        if start < 1 or end < start:
            raise ValueError(f"evidence lines must be 1-based with start <= end, got [{start}, {end}]")
        return value

    @field_validator("page")
    @classmethod
    def _page(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"evidence page must be 1-based, got {value}")
        return value

    @property
    def label(self) -> str:
        start, end = self.lines or (None, None)
        return citation_label(self.source, start, end, self.page)


class GoldenQuestion(BaseModel):
    """One line of a golden JSON Lines file."""

    model_config = ConfigDict(extra="ignore")

    id: str
    question: str
    answers: list[str] = []
    evidence: list[Evidence] = []
    answerable: bool = True
    type: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not value.strip():
            raise ValueError("id is empty")
        return value

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty")
        return value

    @field_validator("answers")
    @classmethod
    def _answers(cls, value: list[str]) -> list[str]:
        return [a for a in value if a.strip()]

    @model_validator(mode="after")
    def _consistent(self) -> "GoldenQuestion":
        if not self.answerable and (self.answers or self.evidence):
            raise ValueError("an unanswerable question (answerable: false) must have empty answers and evidence")
        return self


def parse_golden_line(line: str, *, path: str | Path = "<golden>", line_no: int = 1) -> GoldenQuestion:
    """Parse one JSON line; raises InputError naming `path:line_no`."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{line_no}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}:{line_no}: expected a JSON object, got {type(data).__name__}")
    try:
        return GoldenQuestion.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}" for err in exc.errors()
        )
        raise InputError(f"{path}:{line_no}: invalid golden question ({problems})") from None


def load_golden(path: str | Path) -> list[GoldenQuestion]:
    """Read a golden JSON Lines file. Blank lines and lines starting with `#` are skipped.

    Raises InputError naming the file (and line number) for a missing file, a
    line that is not valid JSON or not a valid question, a duplicate id, or a
    file with no questions.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"golden file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read golden file {path}: {exc}") from None
    questions: list[GoldenQuestion] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        question = parse_golden_line(stripped, path=path, line_no=line_no)
        if question.id in seen:
            raise InputError(f"{path}:{line_no}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = line_no
        questions.append(question)
    if not questions:
        raise InputError(f"golden file {path} holds no questions")
    return questions
