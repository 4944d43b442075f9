"""The one service the CLI and the HTTP API call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.embedder import Embedder
from rag.errors import InputError, SourceNotFoundError
from rag.indexer import Indexer, IndexStats
from rag.retriever import Mode, Retriever, load_reranker
from rag.settings import Settings
from rag.stores import Store, open_store
from rag.types import Answer, AnswerSentence, Passage

log = logging.getLogger(__name__)


class RagService:
    """Indexing, search, answering and source lookup over one index (a folder, or a Milvus alias).

    Heavy parts (embedding model, index, LLM) load on first use; the index is
    reloaded when a build swaps in a new generation, so a server sees
    `rag index` runs without restarting.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None, llm=None):
        self.settings = settings
        self._embedder = embedder
        self._llm = llm
        # The retriever and the stamp of CURRENT it was loaded at, as one value so that a reader
        # without the lock never pairs one generation's stamp with another's retriever.
        self._loaded: tuple[tuple[int, ...] | None, Retriever] | None = None
        self._lock = threading.Lock()
        self._answerer = None
        self._store: Store | None = None

    def over_index(self, index_dir: Path, milvus_collection: str | None = None) -> "RagService":
        """The same service (sharing its loaded models) over another index: a folder for FAISS, a
        collection alias in the same Milvus."""
        update = {"index_dir": index_dir}
        if milvus_collection:
            update["milvus_collection"] = milvus_collection
        return RagService(self.settings.model_copy(update=update), self._embedder, self._llm)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(
                self.settings.embedding_model,
                self.settings.embedding_batch_size,
                query_cache_size=self.settings.query_cache_size,
                query_threads=self.settings.embedding_query_threads,
                query_backend=self.settings.embedding_query_backend,
                cache_dir=self.settings.model_cache_dir,
            )
        return self._embedder

    @property
    def llm(self):
        if self._llm is None:
            from rag.llm.client import LLMClient

            self._llm = LLMClient(self.settings)
        return self._llm

    @property
    def judge_llm(self):
        """The model that checks claims: `judge_model`, or the answering model."""
        judge_model = self.settings.judge_model
        if not judge_model or judge_model == self.llm.model:
            return self.llm
        from rag.llm.client import LLMClient

        return LLMClient(self.settings.model_copy(update={"llm_model": judge_model}))

    @property
    def answerer(self):
        if self._answerer is None:
            from rag.answer import Answerer

            self._answerer = Answerer(self.settings, self.llm, self.embedder, self.judge_llm)
        return self._answerer

    # Indexing -----------------------------------------------------------
    def index(self, paths: list[Path] | None = None, progress: bool | None = None) -> IndexStats:
        paths = paths or [self.settings.corpus]
        stats = Indexer(self.settings, self.embedder).build(paths, self.store, progress=progress)
        with self._lock:
            self._loaded = None
        return stats

    @property
    def retriever(self) -> Retriever:
        stamp = self.store.stamp()
        loaded = self._loaded
        if loaded is not None and loaded[0] == stamp:  # every search: no lock
            return loaded[1]
        with self._lock:
            if self._loaded is None or self._loaded[0] != stamp:
                snapshot = self.store.load()
                retriever = Retriever(snapshot, self.embedder, self.settings, load_reranker(self.settings.reranker))
                self._loaded = (stamp, retriever)
            return self._loaded[1]

    def warm_up(self, llm: bool = True) -> None:
        """Load the index, both retrievers and (optionally) the LLM now rather than on the first request."""
        self.retriever.warm_up()
        self.embedder.encode_query("warm up")
        if llm:
            self.llm.warm_up()
            self.answerer.checker.judge.warm_up()

    # Queries --------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        return self.retriever.search(self._check_question(query), k, mode)

    def ask(self, question: str, k: int | None = None, history: list[dict] | None = None) -> Answer:
        answer = None
        for event in self.ask_stream(question, k, history):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(
        self, question: str, k: int | None = None, history: list[dict] | None = None
    ) -> Iterator[AnswerSentence | Answer]:
        """Yield each answer sentence once it has passed the claim check, then the whole Answer."""
        question = self._check_question(question)
        return self.answerer.stream(question, self.retriever, k or self.settings.answer_passages, history or [])

    def _check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise InputError(f"the question is longer than {self.settings.max_question_chars} characters")
        return question.strip()

    # Sources ----------------------------------------------------------------
    def source_lines(self, source: str, start: int | None = None, end: int | None = None, page: int | None = None) -> dict:
        """Lines of an indexed source, from the index itself: nothing else on disk is ever read.
        For a paged document, the lines of one page (page 1 when none is given), numbered within it,
        with each line's box on the page."""
        document = self._document(source)
        if document.pages is None and page is not None:
            raise InputError(f"{source} has no pages; leave out page")
        first, total = 1, len(document.lines)
        if document.pages is not None:
            on_page = self._page(document, page or 1)
            first, total = on_page.first_line, on_page.line_count
        start = 1 if start is None else start
        if start > total:
            where = f"page {on_page.number} of {source}" if document.pages is not None else source
            raise InputError(f"{where} has {total} lines; start {start} is past the end")
        end = total if end is None else end
        if start < 1 or end < start:
            raise InputError("start must be at least 1 and end at least start")
        end = min(end, total)
        lines = slice(first + start - 2, first + end - 1)
        found = {"source": source, "start_line": start, "end_line": end, "lines": document.lines[lines], "total_lines": total}
        if document.pages is not None:
            found.update(
                page=on_page.number, pages=len(document.pages), page_width=on_page.width, page_height=on_page.height,
                boxes=document.boxes[lines] if document.boxes else None,
            )
        return found

    def page_image(self, source: str, page: int, width: int) -> bytes:
        """One page of an indexed paged document as a PNG `width` pixels wide, rendered from the file
        it was indexed from, and only while that file is unchanged."""
        from rag.loaders.render import render_page

        document = self._document(source)
        if document.pages is None:
            raise InputError(f"{source} has no pages to show")
        self._page(document, page)
        return render_page(document.path, document.sha256, page, width)

    def _document(self, source: str):
        document = self.retriever.snapshot.documents.get(source)
        if document is None:
            raise SourceNotFoundError(f"{source!r} is not an indexed source")
        return document

    @staticmethod
    def _page(document, number: int):
        try:
            return document.page(number)
        except KeyError:
            raise InputError(f"{document.source} has {len(document.pages)} pages; there is no page {number}") from None
