"""Answering: retrieve, pick the lines to show the model, let it write, and let out only checked sentences.

The path, step by step (`Answerer.stream`):
    gate      nothing relevant retrieved, or the question names a word no document uses that is no
              English word ("qantas") -> "not in the documents", the model is not called
    select    the retrieved lines most similar to the question, within the prompt budget
    generate  the model writes, citing line labels
    check     each sentence, once complete, is checked (rag/check.py): its cited lines must state it,
              and the answer must hold a sentence that answers the question
    retry     when no line states anything the model wrote and it did not decline, it answers once
              more, shown only the few lines ranked best; that answer is checked the same way
    disagree  other sources that give a different figure for a shown claim are quoted and cited
    outcome   answered / not in the documents (not_found, declined) / no checked answer (unverified)
              / model failure (model_unavailable, passages kept)
Only checked sentences are yielded, one `AnswerSentence` at a time, then one `Answer`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.check import (
    AnswersVerdict, ClaimChecker, ClaimJudge, LineEvidence, StatesVerdict, find_evidence, line_spans, subject_missing,
    word_coverage,
)
from rag.citations import (
    ContextLine,
    ParsedSentence,
    SourceAliases,
    cited_lines,
    is_about_the_passages,
    is_refusal,
    parse_answer,
    resolve_source,
)
from rag.conflicts import find_disagreements
from rag.embedder import Embedder
from rag.errors import ModelError
from rag.prompts import REFUSAL_OPENING, Prompts
from rag.retriever import Retriever
from rag.settings import Settings
from rag.stores import DocumentRecord
from rag.text import DocumentFrequencies, join_wrapped, numbers, question_word_coverage, split_sentences, with_labels
from rag.types import Answer, AnswerSentence, Citation, Passage, SentenceCheck

log = logging.getLogger(__name__)

NOT_FOUND = "The documents do not contain an answer to this question."
NOT_MENTIONED = "The documents do not contain an answer to this question: no document mentions {words}."
UNVERIFIED = "Related passages were found, but no answer could be checked against them; see the passages below."
MODEL_FAILED = "The model is unavailable ({error}); here are the passages that were found."
_REPAIR_CANDIDATES = 2  # lines the judge is asked about when a sentence's own citation fails
_TITLE_ONLY = "it quotes only the document's title"


def complete_sentences(buffer: str, final: bool) -> tuple[list[str], str]:
    """Split streamed text into the sentences known to be complete and the rest.

    A sentence is complete once the next one has begun with something other than a citation
    marker (a marker after the period still belongs to the sentence before it).
    """
    sentences = split_sentences(buffer)
    if final:
        return [s.text for s in sentences], ""
    done = []
    for current, following in zip(sentences, sentences[1:]):
        if following.text.startswith("["):
            break
        done.append(current)
    if not done:
        return [], buffer
    return [s.text for s in done], buffer[done[-1].end :]


@dataclass
class _Checked:
    check: SentenceCheck
    citations: list[Citation] = field(default_factory=list)
    answers: bool = False


class _AnswerChecker:
    """Checks one answer's sentences as they complete, and decides which are shown."""

    def __init__(self, question: str, context: list[ContextLine], vectors: np.ndarray, documents: Mapping[str, DocumentRecord],
                 checker: ClaimChecker, embedder: Embedder, aliases: SourceAliases, frequencies: DocumentFrequencies | None = None,
                 example_sources: frozenset[str] = frozenset(), disagreement_context: list[ContextLine] | None = None):
        self.question = question
        self.aliases = aliases  # the names the model's prompt gave the sources
        self.disagreement_context = context if disagreement_context is None else disagreement_context
        self.example_sources = example_sources
        self.frequencies = frequencies
        self.context = context
        self.vectors = vectors
        self.documents = documents
        self.checker = checker
        self.embedder = embedder
        self.sources = sorted({c.source for c in context})
        self.indexed = sorted(documents)
        self.answered = False  # a shown sentence answers the question
        self.held: list[_Checked] = []  # stated, but shown only after a sentence that answers
        self.all: list[_Checked] = []
        self.refused = False
        self.stated = 0  # sentences some line states (shown or not)
        self.repaired = 0
        self.judge_ms = 0.0
        self.expanded: set[tuple] = set()  # source sentences shown whole in place of a quoted fragment
        self.written: set[str] = set()  # the model's sentences so far, normalised
        self.said: set[str] = set()  # the shown sentences' texts, letters and digits only
        self.looping = False

    def _evidence(self, claim: str, indexes: list[int]) -> list[LineEvidence]:
        return [
            find_evidence(claim, c.source, c.line, c.raw or c.text, c.page, end_line=c.end_line, lines=c.lines, parts=c.parts)
            for c in (self.context[i] for i in indexes)
        ]

    def _document(self, indexes: list[int]) -> tuple[str, str]:
        """The whole text of the cited documents, and their titles."""
        sources = sorted({self.context[i].source for i in indexes})
        return self._text_of(sources), "\n".join(self._title(s) or "" for s in sources)

    def _text_of(self, sources: Iterable[str]) -> str:
        """The whole text of these documents."""
        return "\n".join("\n".join(self.documents[s].lines) for s in sorted(set(sources)))

    def _title(self, source: str) -> str | None:
        record = self.documents.get(source)
        return record.title if record else None

    def _repair_candidates(self, claim: str, exclude: set[int]) -> list[int]:
        """Context lines most likely to state the claim: shared figures, words and embedding similarity."""
        vector = self.embedder.encode([claim])[0]
        figures = numbers(claim)
        scores = [
            (len(figures & numbers(line.text)) + word_coverage(claim, line.text) + float(self.vectors[i] @ vector), i)
            for i, line in enumerate(self.context)
            if i not in exclude
        ]
        return [i for _, i in sorted(scores, reverse=True)[:_REPAIR_CANDIDATES]]

    def feed(self, raw: str) -> list[_Checked]:
        """Check one complete sentence of the model's text; return the sentences now shown, in order.

        A sentence the model already wrote means it is looping ("Eddie Wu. Eddie Wu. ..."):
        `looping` is set and nothing more is checked, so the caller can stop the generation.
        """
        shown: list[_Checked] = []
        for sentence in parse_answer(self.aliases.restore(raw)):
            key = " ".join(sentence.text.lower().split())
            if key in self.written:
                self.looping = True
                break
            self.written.add(key)
            shown.extend(self._check(sentence))
        return shown

    def _check(self, sentence: ParsedSentence) -> list[_Checked]:
        claim = sentence.text
        if not claim or not any(ch.isalnum() for ch in claim):
            return []
        if is_refusal(claim):
            self.refused = True
            self.all.append(_Checked(SentenceCheck(text=claim, supported=False, reason="the model said the passages do not answer")))
            return []
        if is_about_the_passages(claim):
            self.all.append(_Checked(SentenceCheck(text=claim, supported=False, reason="it speaks about the passages, not from them")))
            return []
        started = time.perf_counter()
        # A label copied from the instructions' example ([report_b.txt:10]) is the model's slip, not
        # a source: the sentence counts as uncited and may be repaired.
        citations = [
            raw for raw in sentence.citations
            if raw.source not in self.example_sources or resolve_source(raw.source, self.indexed) is not None
        ]
        cited = sorted({i for raw in citations for i in cited_lines(raw, self.sources, self.context)})
        # A sentence that cites only files that are not in the index (an invented or injected label
        # such as [secret.txt:1]) is dropped, never re-pointed at whatever line matches its words.
        # One that cites an indexed file at the wrong line may be repaired from the lines shown.
        invented = bool(citations) and all(
            raw.source is None or resolve_source(raw.source, self.indexed) is None for raw in citations
        )
        verdict, repaired = None, False
        if cited:
            verdict = self.checker.states(self.question, claim, self._evidence(claim, cited), *self._document(cited))
        if (verdict is None or not verdict.stated) and not invented and self.context:
            for index in self._repair_candidates(claim, set(cited)):
                attempt = self.checker.states(self.question, claim, self._evidence(claim, [index]), *self._document([index]))
                if attempt.stated:
                    verdict, repaired = attempt, True
                    self.repaired += 1
                    break
        checked = _Checked(SentenceCheck(text=claim, supported=False))
        self.all.append(checked)
        if verdict is None or not verdict.stated:
            checked.check.reason = "it cites a source that was not retrieved" if invented else (
                verdict.reason if verdict is not None and cited else "no retrieved line states it")
            self.judge_ms += (time.perf_counter() - started) * 1000
            return []
        self.stated += 1
        checks = {"states": verdict.probability}
        if not self.answered:
            judged = self._answers(claim, verdict)
            if not judged.answers and not invented and self._off_subject(claim, verdict):
                # Stated by a line that is not about what was asked (a title line, a neighbour): another
                # shown line may state it and be about the question ("Andre Gunder Frank." copied from
                # the title, stated with the book's name on line 3).
                exclude = set(cited) | {i for i, c in enumerate(self.context) for e in verdict.evidence
                                        if (c.source, c.page, c.line) == (e.source, e.page, e.line)}
                for index in self._repair_candidates(f"{claim} {self.question}", exclude):
                    attempt = self.checker.states(self.question, claim, self._evidence(claim, [index]), *self._document([index]))
                    if not attempt.stated:
                        continue
                    retry = self._answers(claim, attempt)
                    if retry.answers:
                        verdict, repaired, judged = attempt, True, retry
                        self.repaired += 1
                        checks["states"] = verdict.probability
                        break
            checks["answers"] = judged.probability
            checked.answers = judged.answers
            if not judged.answers:
                checked.check.reason = judged.reason
        self.judge_ms += (time.perf_counter() - started) * 1000
        # A quoted fragment or a bare answer is shown as the whole sentence it comes from: the
        # document's own words, with their context ("Field's Market ..." -> "Season 1 was shot inside ...").
        whole = verdict.whole_sentence(claim)
        quoted = {(e.source, e.page, e.line, e.start) for e in verdict.evidence}
        # Two fragments of one sentence show it once; a restated claim is never shown in its own words.
        if whole and (verdict.restated or not quoted & self.expanded):
            # The document's words are shown; `written` keeps the model's only where they differ in more than spacing.
            checked.check.text, checked.check.written = whole, claim if _said_key(claim) != _said_key(whole) else None
            self.expanded |= quoted
        checked.citations = [self._citation(e, verdict.probability, repaired, checks) for e in verdict.evidence]
        checked.check.citations = [c.label for c in checked.citations]
        if not self.answered and not checked.answers:
            # Stated but not an answer: context, shown once a sentence answers, unless it is about
            # someone or something else than what was asked (the analyst's words for the boss's).
            if not judged.elsewhere and not any(_said_key(h.check.text) == _said_key(checked.check.text) for h in self.held):
                self.held.append(checked)
            return []
        if _said_key(checked.check.text) in self.said:  # the model wrote out what a bare answer was shown as
            checked.check.reason = "it repeats a sentence shown already"
            return []
        shown = [checked] if self.answered else [*self.held, checked]
        self.answered, self.held = True, []
        for item in shown:
            item.check.supported, item.check.reason = True, None
            self.said.add(_said_key(item.check.text))
        return shown

    def _answers(self, claim: str, verdict: StatesVerdict) -> AnswersVerdict:
        claim = verdict.restated or claim  # what will be shown is what must answer
        if self._off_subject(claim, verdict) == _TITLE_ONLY:
            return AnswersVerdict(False, 0.0, _TITLE_ONLY)
        lines = [ContextLine(e.source, e.line, e.text.strip(), page=e.page, end_line=e.end_line) for e in verdict.evidence]
        return self.checker.answers(self.question, claim, lines, self._said(verdict), self.frequencies,
                                    self._text_of(e.source for e in verdict.evidence))

    def _off_subject(self, claim: str, verdict: StatesVerdict) -> str | None:
        """Why a stated sentence's lines are not about the question: they are only titles (a page's
        name says nothing about it: "The Girl with the Dragon Tattoo (2011 film)."), or a rule of
        subject_missing."""
        claim = verdict.restated or claim
        if all(self._title(e.source) and (e.page or 1) == 1 and e.line == _first_line(self.documents[e.source].lines)
               for e in verdict.evidence):
            return _TITLE_ONLY
        return subject_missing(self.question, claim, self._said(verdict), self.frequencies, self.checker.synonyms,
                               self._text_of(e.source for e in verdict.evidence))

    def _said(self, verdict: StatesVerdict) -> str:
        """What a stated sentence's evidence says: its lines and their documents' titles."""
        titles = sorted({self._title(e.source) or "" for e in verdict.evidence})
        return "\n".join([e.text for e in verdict.evidence] + titles)

    def _citation(self, evidence: LineEvidence, support: float, repaired: bool, checks: dict) -> Citation:
        return Citation(
            source=evidence.source, start_line=evidence.line, end_line=evidence.end_line or evidence.line, page=evidence.page,
            quote=evidence.quote, verified=True, support=support, repaired=repaired, spans=evidence.spans,
            checks=dict(checks),
        )

    def add_disagreements(self) -> list[_Checked]:
        """Quote and cite other sources that give a different figure for a shown claim."""
        shown = [c for c in self.all if c.check.supported]
        claims = [(c.check.text, {cit.source for cit in c.citations}) for c in shown]
        cited = {(cit.source, cit.page, cit.start_line) for c in shown for cit in c.citations}
        added = []
        for found in find_disagreements(claims, self.disagreement_context, self.embedder.encode):
            line = found.line
            if (line.source, line.page, line.line) in cited:
                continue
            cited.add((line.source, line.page, line.line))
            text = line.raw or line.text
            quote = found.quote.strip("…")
            start = max(0, text.find(quote))
            citation = Citation(
                source=line.source, start_line=line.line, end_line=line.last_line, page=line.page,
                quote="\n".join(line.lines) if line.lines else text, verified=True, support=1.0,
                spans=line_spans(line.line, line.parts, start, start + len(quote)), checks={"quoted": 1.0},
            )
            sentence = found.text + "."
            checked = _Checked(SentenceCheck(text=sentence, supported=True, citations=[citation.label]), [citation])
            self.all.append(checked)
            added.append(checked)
        return added

    def unshown_reasons(self) -> None:
        for held in self.held:
            held.check.reason = held.check.reason or "it does not answer the question"


class Answerer:
    def __init__(self, settings: Settings, llm, embedder: Embedder, judge_llm=None):
        self.settings = settings
        self.llm = llm
        self.embedder = embedder
        self.prompts = Prompts(settings.prompts_dir, settings.short_source_labels)
        judge = ClaimJudge(judge_llm or llm, settings.prompts_dir, settings.short_source_labels)
        self.checker = ClaimChecker.from_settings(settings, judge, embedder.encode)

    def rank_lines(self, question: str, passages: list[Passage], retriever: Retriever) -> RankedLines:
        """The retrieved passages' lines, ranked by how likely each is to answer the question.

        The score is the embedding's cosine plus the share of the question's words a line uses,
        each word weighted by how few candidate lines use it: a line naming the question's rare
        words ("Citigroup", "clampdown") is shown even when the embedding ranks a general one higher.
        """
        candidates: list[ContextLine] = []
        for passage in passages:
            candidates.extend(_context_lines(passage, retriever.snapshot.documents[passage.source]))
        if not candidates:
            return RankedLines([], np.zeros((0, self.embedder.dim), dtype=np.float32), np.zeros(0), [])
        vectors = self.embedder.encode([c.text for c in candidates])
        similarity = vectors @ self.embedder.encode_query(question)
        similarity = similarity + self.settings.context_lexical_weight * np.asarray(
            question_word_coverage(question, [c.text for c in candidates]), dtype=np.float32)
        return RankedLines(candidates, vectors, similarity, self.embedder.count_tokens([c.text for c in candidates]))

    def _attempt(self, messages: list[dict], answer: _AnswerChecker, shown: list[_Checked],
                 timings: dict[str, float], stage: str) -> Iterator[AnswerSentence]:
        """Let the model write one answer; yield each sentence the check lets out. Returns the usage."""
        mark = time.perf_counter()
        completion, buffer, text = None, "", ""
        generation = self.llm.stream(messages)

        def show(items: list[_Checked]) -> Iterator[AnswerSentence]:
            for item in items:
                shown.append(item)
                yield _sentence(item)

        for event in generation:
            if isinstance(event, str):
                timings.setdefault("first_token", _ms(mark))
                text += event
                ready, buffer = complete_sentences(buffer + event, final=False)
                for raw in ready:
                    yield from show(answer.feed(raw))
                    if answer.looping:
                        break
                if answer.looping:
                    generation.close()  # stops the model at its next token
                    buffer = ""
                    break
            else:
                completion = event
        ready, _ = complete_sentences(buffer, final=True)
        for raw in ready:
            yield from show(answer.feed(raw))
        if completion is None:  # stopped early: the provider sent no usage
            completion = self.llm.counted(text, messages)
        timings[stage] = _ms(mark)
        return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}

    def stream(self, question: str, retriever: Retriever, k: int, history: list[dict]) -> Iterator[AnswerSentence | Answer]:
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
        unknown = retriever.document_frequencies.unknown_names(question) if self.settings.unknown_names_not_found else []
        if unknown:
            words = ", ".join(f"“{word}”" for word in unknown)
            yield finish(answer=NOT_MENTIONED.format(words=words), answerable=False, status="not_found")
            return

        mark = time.perf_counter()
        ranked = self.rank_lines(question, passages, retriever)
        context, vectors = ranked.select(self.settings.prompt_context_tokens)
        messages = self.prompts.messages(question, context, previous)
        timings["prompt"] = _ms(mark)

        def checker(lines: list[ContextLine], line_vectors: np.ndarray) -> _AnswerChecker:
            return _AnswerChecker(question, lines, line_vectors, retriever.snapshot.documents, self.checker, self.embedder,
                                  self.prompts.aliases(lines), retriever.document_frequencies, self.prompts.example_sources,
                                  disagreement_context=context)

        attempts = [checker(context, vectors)]
        shown: list[_Checked] = []

        def sentences() -> list[SentenceCheck]:
            return [c.check for attempt in attempts for c in attempt.all]

        def failed(exc: ModelError, stage: str) -> Answer:
            timings.setdefault(stage, _ms(mark))
            return finish(answer=MODEL_FAILED.format(error=exc), answerable=False, status="model_unavailable",
                          sentences=sentences(), decline_probability=decline)

        # How likely the model is to say the passages do not answer, read from its first token
        # before it writes (the prompt stays cached for the generation that follows).
        mark, decline = time.perf_counter(), None
        if self.settings.decline_threshold < 1 or getattr(self.llm, "is_local", False):
            try:
                decline = self.llm.decline_probability(messages, REFUSAL_OPENING)
            except ModelError as exc:
                yield failed(exc, "gate")
                return
            timings["gate"] = _ms(mark)
        if decline is not None and decline >= self.settings.decline_threshold:
            yield finish(answer=NOT_FOUND, answerable=False, status="declined", decline_probability=round(decline, 4))
            return
        decline = None if decline is None else round(decline, 4)

        mark = time.perf_counter()
        try:
            usage = yield from self._attempt(messages, attempts[0], shown, timings, "generate")
            # No line states anything the model wrote, and it did not say the passages lack the answer:
            # it misread them (Microsoft's figure given as Amazon's, the question's words put in the
            # line's mouth). Ask once more, shown only the few lines ranked best, and check that
            # answer the same way. When its sentences were stated but did not answer, the passages
            # most likely do not hold the answer, and a second look would only find another near miss.
            misread = not shown and not attempts[0].refused and not attempts[0].stated and self.settings.retry_context_tokens
            focused, focused_vectors = ranked.select(self.settings.retry_context_tokens) if misread else (context, vectors)
            if len(focused) < len(context):  # only a smaller prompt is a second look
                mark = time.perf_counter()
                attempts.append(checker(focused, focused_vectors))
                retried = yield from self._attempt(self.prompts.messages(question, focused, previous), attempts[1], shown,
                                                   timings, "retry")
                usage = {key: usage[key] + retried[key] for key in usage}
        except ModelError as exc:
            yield failed(exc, "retry" if len(attempts) > 1 else "generate")
            return
        answer = attempts[-1]
        timings["check"] = round(sum(attempt.judge_ms for attempt in attempts), 1)
        for attempt in attempts:
            attempt.unshown_reasons()
        log.debug("answer: %d attempts, %d sentences, %d shown", len(attempts), len(sentences()), len(shown))

        if not shown:
            # Only the first answer, shown every line, can tell that the documents lack the answer.
            declined = attempts[0].refused and not attempts[0].held
            yield finish(
                answer=NOT_FOUND if declined else UNVERIFIED,
                answerable=False,
                status="declined" if declined else "unverified",
                sentences=sentences(),
                usage=usage,
                decline_probability=decline,
            )
            return
        for item in answer.add_disagreements():
            shown.append(item)
            yield _sentence(item)
        citations: dict[tuple, Citation] = {}
        for item in shown:
            for citation in item.citations:
                key = (citation.source, citation.page, citation.start_line)
                if key in citations:
                    citations[key].spans.extend(s for s in citation.spans if s not in citations[key].spans)
                else:
                    citations[key] = citation.model_copy(deep=True)
        yield finish(
            answer=" ".join(with_labels(item.check.text, item.check.citations) for item in shown),
            answerable=True,
            status="answered",
            citations=list(citations.values()),
            sentences=sentences(),
            usage=usage,
            decline_probability=decline,
        )


@dataclass
class RankedLines:
    """Candidate context lines with their embeddings, scores against the question and sizes in word pieces."""

    lines: list[ContextLine]
    vectors: np.ndarray
    scores: np.ndarray
    tokens: list[int]

    def select(self, budget: int) -> tuple[list[ContextLine], np.ndarray]:
        """The best-scored lines within `budget` word pieces (at least one), in document order, with their vectors.

        Each line keeps its own label, so the model cites single lines, and only lines the reader
        actually needs reach the (slow, CPU-bound) prompt.
        """
        chosen, used = [], 0
        for i in np.argsort(-self.scores):
            if used + self.tokens[i] > budget and chosen:
                continue
            chosen.append(int(i))
            used += self.tokens[i]
        chosen.sort()  # document order reads better and keeps neighbours together
        return [self.lines[i] for i in chosen], self.vectors[chosen]


def _sentence(item: _Checked) -> AnswerSentence:
    return AnswerSentence(text=with_labels(item.check.text, item.check.citations), sentence=item.check, citations=item.citations)


def _context_lines(passage: Passage, document: DocumentRecord) -> list[ContextLine]:
    """A passage's lines as the model is shown them; a paragraph a layout wrapped over several lines
    (a PDF's) is one unit, labelled with its line range, so a sentence across lines can be checked."""
    first = document.line_number(passage.page, passage.start_line)
    lines = document.lines
    if passage.start_char is not None:
        return [ContextLine(passage.source, passage.start_line, passage.text, passage.start_char, passage.end_char,
                            passage.page, raw=lines[first - 1])]
    units: list[list[int]] = []  # runs of local line numbers, one per paragraph
    for offset in range(passage.end_line - passage.start_line + 1):
        number = first + offset
        if not lines[number - 1].strip():
            continue
        if units and document.wrapped and document.wrapped[number - 1] and units[-1][-1] == passage.start_line + offset - 1:
            units[-1].append(passage.start_line + offset)
        else:
            units.append([passage.start_line + offset])
    out = []
    for unit in units:
        texts = tuple(lines[first + n - passage.start_line - 1] for n in unit)
        if len(unit) == 1:
            out.append(ContextLine(passage.source, unit[0], texts[0].strip(), page=passage.page, raw=texts[0]))
            continue
        text, parts = join_wrapped(list(texts))
        out.append(ContextLine(passage.source, unit[0], text, page=passage.page, end_line=unit[-1], lines=texts,
                               parts=tuple(parts), raw=text))
    return out


def _said_key(text: str) -> str:
    """A sentence's letters and digits: the model's "the world's largest man-made lake" is the
    tokenised line's "the world 's largest man - made lake"."""
    return re.sub(r"\W+", "", text.lower())


def _first_line(lines: list[str]) -> int:
    """The number of a document's first non-empty line (its title, when it has one)."""
    return next((number for number, text in enumerate(lines, 1) if text.strip()), 1)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
