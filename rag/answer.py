"""Answering: pick the lines to show the model, ask it, then verify what it cites."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import numpy as np

from rag.citations import CitationVerifier, ContextLine, SupportScorer, is_refusal, with_labels
from rag.conflicts import find_disagreements
from rag.embedder import Embedder
from rag.errors import ConfigError, ModelError
from rag.retriever import Retriever
from rag.settings import Settings
from rag.types import Answer, Citation, Passage, SentenceCheck, citation_label

log = logging.getLogger(__name__)

NOT_FOUND = "The documents do not contain an answer to this question."
DECLINED = "The documents do not answer this question."
UNVERIFIED = (
    "I found related passages, but could not verify an answer from them; see the passages below."
)
_PROMPT_FILES = ("system.txt", "user.txt", "history.txt")


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


class Answerer:
    def __init__(self, settings: Settings, llm, embedder: Embedder):
        self.settings = settings
        self.llm = llm
        self.embedder = embedder
        self.prompts = Prompts(settings.prompts_dir)
        self.scorer = SupportScorer(embedder.encode, settings.citation_min_support)

    def select_context(self, question: str, passages: list[Passage], retriever: Retriever) -> tuple[list[ContextLine], np.ndarray]:
        """The lines of the retrieved passages most similar to the question, within the prompt budget.

        Each line keeps its own label, so the model cites single lines, and only
        lines the reader actually needs reach the (slow, CPU-bound) prompt.
        """
        candidates: list[ContextLine] = []
        for passage in passages:
            lines = retriever.snapshot.documents[passage.source].lines
            if passage.start_char is not None:
                candidates.append(
                    ContextLine(passage.source, passage.start_line, passage.text, passage.start_char, passage.end_char)
                )
                continue
            for number in range(passage.start_line, passage.end_line + 1):
                if lines[number - 1].strip():
                    candidates.append(ContextLine(passage.source, number, lines[number - 1].strip()))
        if not candidates:
            return [], np.zeros((0, self.embedder.dim), dtype=np.float32)
        vectors = self.embedder.encode([c.text for c in candidates])
        similarity = vectors @ self.embedder.encode_query(question)
        tokens = self.embedder.count_tokens([c.text for c in candidates])
        chosen, used = [], 0
        for i in np.argsort(-similarity):
            if used + tokens[i] > self.settings.prompt_context_tokens and chosen:
                continue
            chosen.append(int(i))
            used += tokens[i]
        chosen.sort()  # document order reads better and keeps neighbours together
        return [candidates[i] for i in chosen], vectors[chosen]

    def stream(self, question: str, retriever: Retriever, k: int, history: list[dict]) -> Iterator[str | Answer]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        previous = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)][-2:]
        query = " ".join([*previous[-1:], question])
        passages = retriever.search(query, k)
        timings["retrieve"] = _ms(started)

        def finish(**fields) -> Answer:
            timings["total"] = _ms(started)
            return Answer(model=self.llm.model, passages=passages, timings_ms=timings, **fields)

        best = max((p.dense_score or 0.0 for p in passages), default=0.0)
        if not passages or best < self.settings.min_relevance:
            yield finish(answer=NOT_FOUND, answerable=False, status="not_found")
            return

        mark = time.perf_counter()
        context, vectors = self.select_context(question, passages, retriever)
        messages = self.prompts.messages(question, context, previous)
        timings["prompt"] = _ms(mark)

        mark = time.perf_counter()
        completion = None
        try:
            for event in self.llm.stream(messages):
                if isinstance(event, str):
                    timings.setdefault("first_token", _ms(mark))
                    yield event
                else:
                    completion = event
        except ModelError as exc:
            timings["generate"] = _ms(mark)
            yield finish(answer=f"The model is unavailable ({exc}); here is what was found.", answerable=False, status="model_unavailable")
            return
        timings["generate"] = _ms(mark)
        usage = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}

        mark = time.perf_counter()
        documents = {s: d.lines for s, d in retriever.snapshot.documents.items()}
        verified = CitationVerifier(self.scorer, documents, question).verify(completion.text, context, vectors)
        timings["verify"] = _ms(mark)
        log.debug("verified %d citations, dropped %d, repaired %d", len(verified.citations), verified.dropped, verified.repaired)

        if verified.citations:
            self._add_disagreements(verified, context, vectors, documents)
        if not verified.citations:
            declined = is_refusal(completion.text)
            yield finish(
                answer=DECLINED if declined else UNVERIFIED,
                answerable=False,
                status="declined" if declined else "unverified",
                sentences=verified.sentences,
                usage=usage,
            )
            return
        yield finish(
            answer=verified.text,
            answerable=True,
            status="answered",
            citations=verified.citations,
            sentences=verified.sentences,
            usage=usage,
        )


    def _add_disagreements(self, verified, context: list[ContextLine], vectors: np.ndarray, documents) -> None:
        """Quote and cite other sources that give a different figure for a claim the answer makes."""
        sources_of = {citation_label(c.source, c.start_line, c.end_line): c.source for c in verified.citations}
        claims = [(s.text, {sources_of[label] for label in s.citations}) for s in verified.sentences if s.supported]
        cited = {(c.source, c.start_line) for c in verified.citations}
        for found in find_disagreements(claims, context, self.embedder.encode):
            line = found.line
            if (line.source, line.line) in cited:
                continue
            sentence = found.text + "."
            index = context.index(line)
            support = self.scorer.score(found.quote, self.embedder.encode([found.quote])[0], line.text, vectors[index])
            if support < self.scorer.threshold:
                continue
            cited.add((line.source, line.line))
            verified.citations.append(
                Citation(source=line.source, start_line=line.line, end_line=line.line,
                         quote=documents[line.source][line.line - 1], verified=True, support=support)
            )
            verified.sentences.append(SentenceCheck(text=sentence, supported=True, citations=[line.label]))
            verified.text = f"{verified.text} {with_labels(sentence, [line.label])}"


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
