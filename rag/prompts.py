"""The answering prompt: templates in the prompts folder, rendered with string.Template ($name)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from rag.citations import ContextLine, SourceAliases
from rag.errors import ConfigError
from rag.text import parse_marker

_PROMPT_FILES = ("system.txt", "user.txt", "history.txt")
REFUSAL_OPENING = "I"  # the first word of the refusal prompts/system.txt asks for ("I don't know.")


class Prompts:
    """Templates in the prompts folder, rendered with string.Template ($name placeholders)."""

    def __init__(self, folder: Path, short_labels: bool = True):
        self.short_labels = short_labels
        self.templates = {}
        for name in _PROMPT_FILES:
            try:
                self.templates[name] = Template((folder / name).read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"prompt template {folder / name} cannot be read ({exc.strerror})") from None
        # Files the instructions' own example cites ([report_a.txt:4]): a small model sometimes copies them.
        self.example_sources = frozenset(
            citation.source
            for marker in re.findall(r"\[([^\[\]\n]{1,300})\]", self.templates["system.txt"].template)
            for citation in parse_marker(marker)
            if citation.source
        )

    def aliases(self, context: list[ContextLine]) -> SourceAliases:
        """The source names `messages` shows the model for these lines."""
        return SourceAliases(context, self.short_labels)

    def messages(self, question: str, context: list[ContextLine], previous: list[str]) -> list[dict]:
        aliases = self.aliases(context)
        passages = "\n".join(f"{aliases.label(line)} {line.text}" for line in context)
        history = self.templates["history.txt"].substitute(previous=" / ".join(previous)) if previous else ""
        user = self.templates["user.txt"].substitute(passages=passages, question=question, history=history)
        return [
            {"role": "system", "content": self.templates["system.txt"].template.strip()},
            {"role": "user", "content": user.strip()},
        ]
