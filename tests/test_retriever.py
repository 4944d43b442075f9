"""Retrieval: BM25 + dense fused with RRF, merged into passages that are exactly the files' lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import STORES, over_store
from embedding_fakes import HashingEmbedder
from rag.errors import InputError
from rag.indexer import Indexer
from rag.retriever import Retriever
from rag.settings import PROJECT_ROOT, Settings
from rag.stores import open_store

SEEDS = PROJECT_ROOT / "seeds"

ADVERT = "Subscribe to our newsletter for weekly updates and exclusive offers"

FILES = {
    "birds.txt": (
        "Bird watching notes from the coast this spring season\n"
        "The peregrine falcon hunts at dawn over the cliffs.\n"
        "A falcon can dive faster than any other animal.\n"
        "Sparrows nest under roof tiles in the village.\n"
        "\n"
        "Owls hunt mice in the barn at night.\n"
        "Herons wait motionless in shallow water for fish.\n"
        "The falcon returns to its nest at dusk.\n"
    ),
    "finance.txt": (
        "Quarterly report for the fourth quarter of the year\n"
        "Revenue rose 8% to 280.2 billion in the fourth quarter.\n"
        "Net income reached 48.9 billion, beating estimates.\n"
        "The xylophone division was sold last year to rivals.\n"
        f"{ADVERT}\n"
    ),
    "space.md": (
        "# Space notes about the outer solar system today\n"
        "Quantum entanglement links the states of two particles.\n"
        "Teleportation experiments used quantum entanglement over fibre links.\n"
        "Comets orbit the sun on elongated paths far away.\n"
        f"{ADVERT}\n"
    ),
    "ads.txt": (
        "Shop news from the high street this week now\n"
        "Buy one get one free.\n"
        "Buy one get one free.\n"
        "Buy one get one free.\n"
        "Our shop opens at nine every morning except Sunday.\n"
    ),
}


def file_lines(root: Path, source: str) -> list[str]:
    text = (root / source).read_bytes().decode("utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def assert_passages_true_to_files(passages, root: Path) -> None:
    for p in passages:
        lines = file_lines(root, p.source)
        assert 1 <= p.start_line <= p.end_line <= len(lines)
        if p.start_char is None:
            assert p.text == "\n".join(lines[p.start_line - 1 : p.end_line]), p
        else:
            assert p.start_line == p.end_line
            assert p.text == lines[p.start_line - 1][p.start_char : p.end_char], p


def assert_no_overlapping_passages(passages) -> None:
    for i, a in enumerate(passages):
        for b in passages[i + 1 :]:
            if a.source == b.source and a.start_char is None and b.start_char is None:
                assert a.end_line < b.start_line or b.end_line < a.start_line, (a.label, b.label)


@pytest.fixture
def corpus(corpus_factory):
    return corpus_factory(FILES)


@pytest.fixture
def small_settings(any_settings) -> Settings:
    # 16 word pieces a chunk: every line of FILES is a chunk of its own. Each test runs over each store.
    return any_settings.model_copy(update={"chunk_tokens": 16})


@pytest.fixture
def retriever(small_settings, fake_embedder, corpus) -> Retriever:
    return _index_and_open(corpus, small_settings, fake_embedder)


def _chunks(retriever) -> list:
    return retriever.snapshot.fetch(range(retriever.snapshot.size))[0]


def _cosine(retriever, chunk_id: int, query) -> float:
    return float(retriever.snapshot.fetch([chunk_id])[1][0] @ query)


def test_every_line_is_its_own_chunk(retriever):
    assert all(c.start_line == c.end_line for c in _chunks(retriever) if not c.boilerplate)
    assert any(c.boilerplate for c in _chunks(retriever))


def test_bm25_finds_exact_terms(retriever, corpus):
    passages = retriever.search("xylophone", k=3, mode="bm25")
    assert passages[0].source == "finance.txt" and passages[0].start_line == 4
    assert passages[0].dense_score is None
    assert_passages_true_to_files(passages, corpus)
    # Numbers with decimals match as whole tokens.
    passages = retriever.search("48.9", k=1, mode="bm25")
    assert (passages[0].source, passages[0].start_line) == ("finance.txt", 3)


def _index_and_open(root, settings, embedder) -> Retriever:
    Indexer(settings, embedder).build([root], progress=False)
    return Retriever(open_store(settings).load(), embedder, settings)


def _with_fusion(retriever, monkeypatch, **update):
    monkeypatch.setattr(retriever, "settings", retriever.settings.model_copy(update=update))


def test_rrf_prefers_chunks_high_in_both_rankings(retriever, monkeypatch):
    _with_fusion(retriever, monkeypatch, fusion="rrf", dense_weight=1.0, bm25_weight=1.0)
    query = retriever.embedder.encode_query("falcon")
    fused = retriever._fuse([(0, 0.0), (1, 0.0), (2, 0.0)], [(1, 2.0), (3, 1.0), (0, 0.5)], query)[0]
    assert [h.chunk_id for h in fused][:2] == [1, 0]
    k = retriever.settings.rrf_k
    assert math.isclose(fused[0].score, 1 / (k + 2) + 1 / (k + 1))
    assert {h.chunk_id for h in fused} == {0, 1, 2, 3}
    _with_fusion(retriever, monkeypatch, fusion="rrf", dense_weight=0.0, bm25_weight=1.0)
    assert retriever._fuse([(0, 0.0), (1, 0.0), (2, 0.0)], [(3, 2.0), (1, 1.0)], query)[0][0].chunk_id == 3


def test_weighted_fusion_adds_cosine_and_normalised_bm25(retriever, monkeypatch):
    _with_fusion(retriever, monkeypatch, fusion="weighted", dense_weight=0.6, bm25_weight=0.4)
    query = retriever.embedder.encode_query("falcon")
    fused = retriever._fuse([(0, 0.0), (1, 0.0)], [(3, 4.0), (1, 2.0)], query)[0]
    assert {h.chunk_id for h in fused} == {0, 1, 3}
    bm25 = {3: 4.0, 1: 2.0}
    for hit in fused:
        cosine = _cosine(retriever, hit.chunk_id, query)
        assert math.isclose(hit.dense, cosine, rel_tol=1e-5, abs_tol=1e-6)
        assert math.isclose(hit.score, 0.6 * cosine + 0.4 * bm25.get(hit.chunk_id, 0.0) / 4.0, rel_tol=1e-5, abs_tol=1e-6)
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)
    _with_fusion(retriever, monkeypatch, fusion="weighted", dense_weight=1.0, bm25_weight=0.0)
    dense_only = retriever._fuse([(0, 0.0), (1, 0.0)], [(3, 4.0)], query)[0]
    assert [h.chunk_id for h in dense_only] == sorted([0, 1, 3], key=lambda i: -_cosine(retriever, i, query))


def test_hybrid_ranks_the_chunk_matching_both_first(retriever, corpus):
    passages = retriever.search("teleportation quantum entanglement fibre", k=3, mode="hybrid")
    assert passages[0].source == "space.md" and passages[0].start_line <= 3 <= passages[0].end_line
    assert passages[0].dense_score is not None and passages[0].dense_score > 0
    assert_passages_true_to_files(passages, corpus)


def test_adjacent_hits_merge_into_one_passage(retriever, corpus):
    passages = retriever.search("falcon", k=5, mode="bm25")
    birds = [p for p in passages if p.source == "birds.txt"]
    # Lines 2 and 3 both mention the falcon and touch: one passage. Line 8 is apart (lines 4-7 not hits).
    assert any(p.start_line == 2 and p.end_line == 3 for p in birds), [p.label for p in birds]
    assert any(p.start_line == 8 == p.end_line for p in birds), [p.label for p in birds]
    assert len(birds) == 2
    one = next(p for p in birds if p.start_line == 2)
    assert one.text == "\n".join(file_lines(corpus, "birds.txt")[1:3])
    assert_passages_true_to_files(passages, corpus)
    assert_no_overlapping_passages(passages)


def test_hits_across_a_blank_line_merge_but_not_across_text(small_settings, fake_embedder, corpus_factory):
    root = corpus_factory(
        {
            "a.txt": (
                "Mineral notes from the field trip in the northern hills\n"
                "zircon crystals grow slowly over many millions of years here\n"
                "\n"
                "zircon dating is precise to within a few thousand years\n"
                "nothing relevant here at all in this particular sentence today\n"
                "zircon appears again in the final line of these notes\n"
            ),
            "filler.txt": "apples\npears\nplums\n",
        }
    )
    retriever = _index_and_open(root, small_settings, fake_embedder)
    passages = retriever.search("zircon", k=5, mode="bm25")
    spans = sorted((p.start_line, p.end_line) for p in passages if p.source == "a.txt")
    assert spans == [(2, 4), (6, 6)]
    assert_passages_true_to_files(passages, root)


def test_a_hit_between_two_passages_joins_them(small_settings, fake_embedder, corpus_factory):
    # BM25 ranks line 2 (most "zircon") first, then line 4, then line 3, which touches both.
    root = corpus_factory(
        {
            "a.txt": (
                "Notes from the field trip in the northern hills today\n"
                "zircon zircon zircon zircon appears on this line of notes here\n"
                "zircon appears once in this line of notes about rocks here\n"
                "zircon zircon zircon appears on this other line of notes here\n"
            ),
            "b.txt": "plums and apples and pears in the basket today\n",
        }
    )
    retriever = _index_and_open(root, small_settings, fake_embedder)
    assert [i for i, _ in retriever.snapshot.bm25_search("zircon", 5)] == [1, 3, 2]  # chunk ids of lines 2, 4, 3
    passages = retriever.search("zircon", k=5, mode="bm25")
    assert [(p.source, p.start_line, p.end_line) for p in passages] == [("a.txt", 2, 4)]
    assert_passages_true_to_files(passages, root)


def test_merging_respects_max_passage_chars(small_settings, fake_embedder, corpus_factory):
    lines = "zircon one two three four five six seven eight\nzircon nine ten eleven twelve thirteen fourteen fifteen\n"
    root = corpus_factory({"a.txt": lines, "b.txt": "plums\n"})
    limited = small_settings.model_copy(update={"max_passage_chars": 60})
    Indexer(limited, fake_embedder).build([root], progress=False)
    retriever = Retriever(open_store(limited).load(), fake_embedder, limited)
    spans = sorted((p.start_line, p.end_line) for p in retriever.search("zircon", k=5, mode="bm25"))
    assert spans == [(1, 1), (2, 2)]
    roomy = limited.model_copy(update={"max_passage_chars": 200})
    retriever = Retriever(retriever.snapshot, fake_embedder, roomy)
    assert [(p.start_line, p.end_line) for p in retriever.search("zircon", k=5, mode="bm25")] == [(1, 2)]


def test_duplicate_and_boilerplate_text_appears_at_most_once(retriever, corpus):
    for mode in ("hybrid", "dense", "bm25"):
        passages = retriever.search(ADVERT, k=10, mode=mode)
        assert sum(ADVERT in p.text for p in passages) <= 1, mode
        # A line repeated three times in one file is boilerplate: never a passage of its own.
        passages = retriever.search("buy one get one free", k=10, mode=mode)
        assert not any(p.text == "Buy one get one free." for p in passages), mode
        assert_passages_true_to_files(passages, corpus)
    texts = [" ".join(p.text.lower().split()) for p in retriever.search("newsletter offers falcon quantum", k=10)]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_modes_and_k(retriever, corpus, mode):
    for k in (1, 2, 4):
        passages = retriever.search("falcon nest quarter revenue comets", k=k, mode=mode)
        assert 1 <= len(passages) <= k
        assert_passages_true_to_files(passages, corpus)
        assert_no_overlapping_passages(passages)
        scores = [p.score for p in passages]
        assert scores == sorted(scores, reverse=True)
    k = 3 if mode == "bm25" else 4  # bm25 only ranks chunks holding a query term
    assert len(retriever.search("falcon nest quarter revenue comets owls herons", k=k, mode=mode)) == k
    if mode != "bm25":
        assert all(p.dense_score is not None for p in passages)


def test_default_k_is_top_k(retriever):
    settings = retriever.settings.model_copy(update={"top_k": 2})
    r = Retriever(retriever.snapshot, retriever.embedder, settings)
    assert len(r.search("falcon nest quarter revenue comets owls herons")) == 2


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_input_error(retriever, query):
    with pytest.raises(InputError):
        retriever.search(query)


def test_k_out_of_range(retriever):
    with pytest.raises(InputError):
        retriever.search("falcon", k=101)
    with pytest.raises(InputError):
        retriever.search("falcon", k=-1)


def test_no_match_gives_no_passages_in_bm25(retriever):
    assert retriever.search("qwertyuiop", k=5, mode="bm25") == []


def test_long_line_passages_use_char_offsets(any_settings, fake_embedder, corpus_factory):
    sentences = [f"Sentence {i} mentions the topic{i} keyword in passing and nothing else of note." for i in range(40)]
    root = corpus_factory({"long.txt": "Title line\n" + " ".join(sentences) + "\n", "other.txt": "unrelated words\n"})
    small = any_settings.model_copy(update={"chunk_tokens": 32})
    Indexer(small, fake_embedder).build([root], progress=False)
    retriever = Retriever(open_store(small).load(), fake_embedder, small)
    passages = retriever.search("topic17", k=3, mode="bm25")
    top = passages[0]
    assert top.source == "long.txt" and top.start_line == top.end_line == 2
    assert top.start_char is not None and "topic17" in top.text
    assert_passages_true_to_files(passages, root)


# Integration: the real model over the seed articles ------------------------------------------------
@pytest.fixture(scope="module", params=STORES)
def seeds_retriever(request, tmp_path_factory, real_embedder):
    folder = tmp_path_factory.mktemp("seeds-index")
    settings = over_store(Settings(index_dir=folder), request.param, folder)
    Indexer(settings, real_embedder).build([SEEDS], progress=False)
    return Retriever(open_store(settings).load(), real_embedder, settings)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["hybrid", "bm25"])  # dense alone ranks it below 5 with MiniLM
def test_seed_question_finds_the_line(seeds_retriever, mode):
    passages = seeds_retriever.search("What was Alibaba's net income in the fourth quarter?", k=5, mode=mode)
    top3 = passages[:3]
    assert any(p.source == "002_9fd4f84746180eec.txt" and p.start_line <= 6 <= p.end_line for p in top3), [
        p.label for p in passages
    ]
    assert_passages_true_to_files(passages, SEEDS)


@pytest.mark.integration
def test_seed_passages_are_true_to_files(seeds_retriever):
    for question in (
        "How much is Alibaba investing in AI?",
        "Learn to use AI like a Pro",
        "What happened to the stock price?",
        "cloud computing infrastructure",
    ):
        passages = seeds_retriever.search(question, k=8)
        assert passages
        assert_passages_true_to_files(passages, SEEDS)
        assert_no_overlapping_passages(passages)
        assert not any(p.text.startswith("Learn to use AI like a Pro") for p in passages)
