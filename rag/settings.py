"""One settings object for the whole service.

Values come, highest priority first, from: keyword arguments, environment
variables prefixed `RAG_` (for example `RAG_LLM_MODEL=openai/gpt-4o-mini`),
a TOML config file (`RAG_CONFIG=path/to/rag.toml`, or `rag.toml` in the
working directory), then the defaults below. Tests use the profile in
`tests/rag-test.toml`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL_MODEL = "local/qwen2.5-coder-1.5b-instruct"


def _config_file() -> Path | None:
    explicit = os.environ.get("RAG_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("rag.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore", validate_default=True)

    # Corpus and index
    corpus: Path = Field(PROJECT_ROOT / "seeds", description="Folder indexed by default.")
    index_dir: Path = Field(PROJECT_ROOT / "index", description="Where the index lives.")
    extensions: list[str] = Field(
        [".txt", ".md", ".rst", ".pdf", ".html", ".htm", ".docx"],
        description="File types that are read: PDF, HTML and Word by their own readers, any other as text.",
    )
    max_file_bytes: int = Field(20_000_000, gt=0, description="Larger files are skipped with a warning.")
    reader_timeout_s: float = Field(
        60.0, gt=0, description="Longest time one PDF, HTML or DOCX file may take to read; a slower one is skipped."
    )
    reader_memory_mb: int = Field(
        1024, ge=64, description="Memory one PDF, HTML or DOCX file may take to read (in a child process); more is skipped."
    )

    # Embedding and chunking
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Name of a packaged model (all-MiniLM-L6-v2) or a path to a sentence-transformers folder.",
    )
    embedding_batch_size: int = Field(32, gt=0)
    query_cache_size: int = Field(1024, ge=0, description="Query embeddings kept for repeated questions (LRU); 0: none.")
    embedding_query_backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What embeds one question: onnxruntime (the model exported once into model_cache_dir; the same "
        "vectors, 3-4 x faster here) or torch. Documents are always embedded by torch, in batches.",
    )
    embedding_query_threads: int = Field(
        1, ge=1, description="Threads embedding one query, in torch or onnxruntime (more only oversubscribe the CPU under concurrent searches)."
    )
    chunk_tokens: int = Field(200, ge=16, le=254, description="Word pieces per chunk (the model window is 256).")
    chunk_overlap_tokens: int = Field(0, ge=0, description="Word pieces of trailing lines repeated in the next chunk.")
    approximate_index_threshold: int = Field(
        50_000, gt=0, description="At or above this many chunks the FAISS index is HNSW instead of exact."
    )
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_search: int = Field(128, ge=8)
    vector_store: str = Field(
        "faiss",
        description="Where vectors, BM25 and document lines live: `faiss` (files under index_dir), or a Milvus URI: "
        "a local file path ending in .db (Milvus Lite, embedded, one process) or http://host:19530 (a Milvus "
        "server or cluster; needs the `scale` extra).",
    )
    milvus_collection: str = Field(
        "rag_lines", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
        description="The Milvus alias readers search; each build is a collection of its own behind it.",
    )
    milvus_token: str | None = Field(None, description="Milvus credentials (`user:password` or an API key), when the server asks.")
    embedding_engine: Literal["local", "ray"] = Field(
        "local",
        description="What embeds documents when indexing: this process, or Ray Data over an actor pool (a local Ray, "
        "or the cluster RAY_ADDRESS names; needs the `scale` extra).",
    )
    ray_actors: int = Field(2, ge=1, description="Embedding actors Ray runs, each loading the model once.")

    # Retrieval
    top_k: int = Field(5, ge=1, le=50)
    candidate_k: int = Field(50, ge=1, le=1000, description="Hits taken from each retriever before fusion.")
    fusion: Literal["weighted", "rrf"] = Field(
        "weighted", description="weighted: dense_weight*cosine + bm25_weight*BM25/best; rrf: reciprocal rank fusion."
    )
    dense_weight: float = Field(0.85, ge=0)
    bm25_weight: float = Field(0.15, ge=0)
    rrf_k: int = Field(60, ge=1)
    max_passage_chars: int = Field(1200, gt=0, description="Adjacent hits are merged up to this length.")
    min_relevance: float = Field(
        0.2, description="Below this best dense similarity the documents are taken not to hold the answer."
    )
    unknown_names_not_found: bool = Field(
        True,
        description="Answer \"not in the documents\", without calling the model, when the question names a word of 6 letters "
        "or more that no indexed document uses in any form and that is no English word (a name the documents never mention).",
    )
    reranker: str | None = Field(None, description="Dotted path to a reranker factory; none ships offline.")

    # Language model
    llm_model: str = Field(DEFAULT_LOCAL_MODEL, description="Any litellm model name, e.g. openai/gpt-4o-mini.")
    llm_api_base: str | None = None
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_max_tokens: int = Field(256, ge=1, le=8192)
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_retries: int = Field(2, ge=0, le=10)
    llm_retry_backoff_s: float = Field(1.0, ge=0)
    local_model_path: Path | None = Field(None, description="A GGUF file to use instead of the packaged model.")
    model_cache_dir: Path = Field(Path.home() / ".cache" / "rag-lines", description="Where the packaged model is assembled.")
    local_context_tokens: int = Field(4096, ge=512)
    local_threads: int = Field(max(1, os.cpu_count() or 1), ge=1)
    local_parallel: int = Field(
        3, ge=1, description="Requests the local model runs at once: two answers and a claim-check question by default."
    )
    prompts_dir: Path = PROJECT_ROOT / "prompts"

    answer_passages: int = Field(
        8, ge=1, le=50, description="Passages retrieved for an answer; their most relevant lines fill the prompt budget."
    )
    prompt_context_tokens: int = Field(
        500, ge=50, description="Word pieces of retrieved lines shown to the model (prompt size drives CPU latency)."
    )
    short_source_labels: bool = Field(
        True, description="Show the model its sources as S1, S2, ... instead of their file names (a hashed file name "
        "costs the local model about 20 more tokens per line and per citation); answers always cite the files.",
    )
    retry_context_tokens: int = Field(
        150, ge=0,
        description="When no sentence of an answer passes the check, the model answers once more shown only the best lines within this many word pieces (0: no second answer).",
    )
    context_lexical_weight: float = Field(
        0.3, ge=0, description="Weight of the question's rare words, next to embedding similarity, in choosing the lines shown."
    )

    # The claim check (rag/check.py); thresholds chosen on the dev sets named in evals/README.md
    judge_model: str | None = Field(
        None, description="litellm model that checks claims (yes/no questions); the answering model when unset."
    )
    decline_threshold: float = Field(
        1.0, ge=0, le=1,
        description="Decline (\"not in the documents\") when the model's probability of replying that the passages do not answer, read before it writes, is at least this.",
    )
    claim_states_threshold: float = Field(
        0.5, ge=0, le=1, description="Judge probability that a cited line states a sentence, needed to show it."
    )
    claim_answers_threshold: float = Field(
        0.9, ge=0, le=1,
        description="Probability that a stated sentence's cited lines answer the question (the model would not reply \"I don't know.\" when shown only them), needed to answer.",
    )
    claim_verbatim_coverage: float = Field(
        0.9, ge=0, le=1, description="Share of a sentence's words found in its cited sentence to count as stated without the judge."
    )
    claim_answer_relevance: float = Field(
        0.35, ge=0, le=1,
        description="Embedding cosine between the question and a sentence (or the closer of its cited lines) needed for the sentence to answer it (0: off).",
    )
    claim_synonym_similarity: float = Field(
        0.7, ge=0, le=1,
        description="Cosine of two single words' embeddings at which a line's word counts as a question word the sentence repeats (0: off).",
    )

    # Serving
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys: list[str] = Field([], description="When set, requests need `Authorization: Bearer <key>`.")
    cors_origins: list[str] = []
    max_question_chars: int = Field(2000, ge=1)
    max_body_bytes: int = Field(65_536, ge=1024)
    max_concurrent_generations: int = Field(2, ge=1)
    max_queued_generations: int = Field(8, ge=0)
    queue_timeout_s: float = Field(120.0, gt=0)
    max_concurrent_searches: int = Field(
        max(1, min(4, os.cpu_count() or 1)), ge=1,
        description="Searches run at once in threads of their own (apart from the answer slots) when there are no search processes; much of a search holds the GIL, so more than a few do not help.",
    )
    search_processes: int = Field(
        min(4, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0, ge=0,
        description="Worker processes that run searches (each loads the index and the embedding model, not the LLM), "
        "so that concurrent searches use every core; 0: search in threads of the server process. "
        "When set, it is also the number of searches run at once.",
    )
    max_queued_searches: int = Field(64, ge=0, description="Searches waiting for a slot; beyond this, 503 with Retry-After.")
    search_queue_timeout_s: float = Field(5.0, gt=0, description="Longest wait for a search slot before 503.")

    @field_validator("extensions")
    @classmethod
    def _dotted_lowercase(cls, value: list[str]) -> list[str]:
        return [e.lower() if e.startswith(".") else "." + e.lower() for e in value]

    @field_validator("vector_store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        value = value.strip()
        if value == "faiss" or value.startswith(("http://", "https://", "tcp://", "unix:")) or value.endswith(".db"):
            return value
        raise ValueError("must be `faiss`, a Milvus Lite file ending in .db, or a Milvus server URI (http://host:19530)")

    @property
    def single_process_store(self) -> bool:
        """The index is a Milvus Lite file, which one process at a time may open."""
        return self.vector_store.endswith(".db")

    @model_validator(mode="after")
    def _check_overlap(self) -> "Settings":
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = _config_file()
        if config is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)


def load_settings(**overrides) -> Settings:
    """Read settings, turning validation problems into one readable ConfigError."""
    from pydantic import ValidationError

    from rag.errors import ConfigError

    config = _config_file()
    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} (RAG_CONFIG) does not exist")
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
