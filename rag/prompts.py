"""The answering prompt: templates in the prompts folder, rendered with string.Template ($name)."""

from __future__ import annotations

from pathlib import Path
from string import Template

from rag.citations import ContextLine
from rag.errors import ConfigError

_PROMPT_FILES = ("system.txt", "user.txt", "history.txt")
REFUSAL_OPENING = "I"  # the first word of the refusal prompts/system.txt asks for ("I don't know.")


class Prompts:
    """Templates in the prompts folder, rendered with string.Template ($name placeholders)."""

    def __init__(self, folder: Path):
        self.templates = {}
        for name in _PROMPT_FILES:
            try:
                self.templates[name] = Template((folder / name).read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"prompt template {folder / name} cannot be read ({exc.strerror})") from None

    def messages(self, question: str, context: list[ContextLine], previous: list[str]) -> list[dict]:
        passages = "\n".join(f"{line.label} {line.text}" for line in context)
        history = self.templates["history.txt"].substitute(previous=" / ".join(previous)) if previous else ""
        user = self.templates["user.txt"].substitute(passages=passages, question=question, history=history)
        return [
            {"role": "system", "content": self.templates["system.txt"].template.strip()},
            {"role": "user", "content": user.strip()},
        ]
