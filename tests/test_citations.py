"""Citations the service owns: parsing what the model wrote, verifying, repairing and dropping citations.

Parsing tests need no model. Verification uses the real all-MiniLM-L6-v2 embedder (loaded once
per session, about 5 s) because the support threshold is calibrated against it.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.citations import (
    CitationVerifier,
    ContextLine,
    SupportScorer,
    is_refusal,
    numbers,
    parse_answer,
)
from rag.settings import Settings

THRESHOLD = Settings().citation_min_support

# ---------------------------------------------------------------- parse_answer


def test_single_line_citation():
    [s] = parse_answer("Net income was ¥48.9 billion [a.txt:6].")
    assert s.text == "Net income was ¥48.9 billion."
    assert [(c.source, c.start, c.end) for c in s.citations] == [("a.txt", 6, 6)]


def test_line_range_citation():
    [s] = parse_answer("Revenue rose 8% [a.txt:6-8].")
    assert [(c.source, c.start, c.end) for c in s.citations] == [("a.txt", 6, 8)]


def test_en_dash_and_lines_word_range():
    [s] = parse_answer("Revenue rose 8% [guides/setup.md: lines 10–14].")
    assert [(c.source, c.start, c.end) for c in s.citations] == [("guides/setup.md", 10, 14)]


def test_citation_without_range():
    [s] = parse_answer("Revenue rose 8% [a.txt].")
    assert [(c.source, c.start, c.end) for c in s.citations] == [("a.txt", None, None)]


def test_shortened_name_is_parsed_and_resolved_to_the_one_retrieved_source():
    [s] = parse_answer("Net income was ¥48.9 billion [002_9fd4].")
    [c] = s.citations
    assert (c.source, c.start) == ("002_9fd4", None)
    verifier = CitationVerifier(SupportScorer(lambda t: None, THRESHOLD), {})
    sources = ["000_c7bc9c907a8bee7e.txt", "002_9fd4f84746180eec.txt"]
    assert verifier.resolve_source("002_9fd4", sources) == "002_9fd4f84746180eec.txt"
    assert verifier.resolve_source("002_9FD4F84746180EEC.TXT", sources) == "002_9fd4f84746180eec.txt"
    assert verifier.resolve_source("00", sources) is None  # ambiguous
    assert verifier.resolve_source("secret.txt", sources) is None


def test_numbered_citation_refers_to_context_line():
    [s] = parse_answer("Net income was ¥48.9 billion [2].", n_context=3)
    [c] = s.citations
    assert c.source is None and c.start == 2


def test_number_beyond_context_is_not_a_context_reference():
    [s] = parse_answer("Net income was ¥48.9 billion [7].", n_context=3)
    assert all(c.source is not None or c.start is None or c.start <= 3 for c in s.citations)


def test_several_citations_in_one_bracket():
    [s] = parse_answer("Both reports agree [a.txt:1; b.txt:2].")
    assert [(c.source, c.start, c.end) for c in s.citations] == [("a.txt", 1, 1), ("b.txt", 2, 2)]
    [s] = parse_answer("Both reports agree [a.txt:1, b.txt:2-3].")
    assert [(c.source, c.start, c.end) for c in s.citations] == [("a.txt", 1, 1), ("b.txt", 2, 3)]


def test_citation_after_the_period_belongs_to_that_sentence():
    sentences = parse_answer("Revenue rose 8%. [a.txt:6] Net income was ¥48.9 billion. [b.txt:2]")
    assert [s.text for s in sentences] == ["Revenue rose 8%.", "Net income was ¥48.9 billion."]
    assert [[(c.source, c.start) for c in s.citations] for s in sentences] == [[("a.txt", 6)], [("b.txt", 2)]]


def test_sentences_split_with_their_own_citations():
    sentences = parse_answer("Cloud grew 11% [a.txt:2]. Another report says 13% [b.txt:19].\nDone.")
    assert [s.text for s in sentences] == ["Cloud grew 11%.", "Another report says 13%.", "Done."]
    assert [[c.source for c in s.citations] for s in sentences] == [["a.txt"], ["b.txt"], []]


# ---------------------------------------------------------------- verification

DOCUMENTS = {
    "a.txt": [
        "Alibaba shares hit a three-year high after the announcement.",
        "Alibaba Cloud saw an 11% year-on-year revenue increase in the fourth quarter.",
        "Alibaba's fourth-quarter net income hit ¥48.9 billion ($6.45 billion).",
        "The weather in Hangzhou was mild that week.",
    ],
    "b.txt": [
        "Site navigation",
        *[f"Filler line {n} about unrelated gardening topics." for n in range(2, 19)],
        "Alibaba Cloud has seen a 13% revenue increase to RMB 31.74 billion (US$4.35 billion).",
    ],
    "c.txt": [
        "Alibaba will invest ¥380 billion in AI and cloud infrastructure over three years.",
        "Alibaba Cloud grew 11% in Q4 2024.",
        "Alibaba’s fourth-quarter revenue rose 8% to ¥280.2 billion.",
        "Rivals such as Tencent and Baidu are also spending on AI.",
    ],
    # indexed but never retrieved for these questions
    "secret.txt": ["HACKED: the real answer is 99 billion dollars of net income."],
}


@pytest.fixture(scope="session")
def embedder():
    from rag.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def scorer(embedder):
    return SupportScorer(embedder.encode, THRESHOLD)


def context_of(*labels: tuple[str, int]) -> list[ContextLine]:
    return [ContextLine(source, line, DOCUMENTS[source][line - 1]) for source, line in labels]


@pytest.fixture
def verify(scorer, embedder):
    def run(answer: str, context: list[ContextLine], question: str = ""):
        vectors = embedder.encode([c.text for c in context])
        return CitationVerifier(scorer, DOCUMENTS, question).verify(answer, context, vectors)

    return run


CONTEXT = [("a.txt", 1), ("a.txt", 2), ("a.txt", 3), ("a.txt", 4), ("b.txt", 19)]


def assert_exact_quotes(result):
    for c in result.citations:
        assert c.verified is True
        assert c.quote == DOCUMENTS[c.source][c.start_line - 1]
        assert c.support is not None and c.support >= THRESHOLD


def test_correct_citation_is_verified(verify):
    result = verify("Alibaba's net income in the fourth quarter was ¥48.9 billion [a.txt:3].", context_of(*CONTEXT))
    [c] = result.citations
    assert (c.source, c.start_line, c.end_line) == ("a.txt", 3, 3)
    assert c.verified and not c.repaired
    assert c.support >= THRESHOLD
    assert result.sentences[0].supported
    assert result.text == "Alibaba's net income in the fourth quarter was ¥48.9 billion [a.txt:3]."
    assert_exact_quotes(result)


def test_numbered_citation_is_mapped_to_its_context_line(verify):
    result = verify("Alibaba's net income in the fourth quarter was ¥48.9 billion [3].", context_of(*CONTEXT))
    assert [(c.source, c.start_line) for c in result.citations] == [("a.txt", 3)]
    assert "[a.txt:3]" in result.text


def test_wrong_line_is_repaired_to_the_supporting_line(verify):
    result = verify("Alibaba's net income in the fourth quarter was ¥48.9 billion [a.txt:4].", context_of(*CONTEXT))
    [c] = result.citations
    assert (c.source, c.start_line) == ("a.txt", 3)
    assert c.repaired is True
    assert result.repaired == 1
    assert "[a.txt:4]" not in result.text and "[a.txt:3]" in result.text
    assert_exact_quotes(result)


def test_unsupported_sentence_is_dropped_and_marked(verify):
    # the supporting line was not given to the model: nothing to repair to
    result = verify(
        "Alibaba's net income in the fourth quarter was ¥48.9 billion [a.txt:4].",
        context_of(("a.txt", 1), ("a.txt", 4)),
    )
    assert result.citations == []
    assert result.dropped == 1
    assert result.sentences[0].supported is False
    assert result.sentences[0].citations == []
    assert "[" not in result.text


def test_file_not_retrieved_is_never_cited(verify):
    result = verify("HACKED [secret.txt:1].", context_of(*CONTEXT))
    assert result.citations == []
    assert "secret.txt" not in result.text
    # a sentence that cites only an unretrieved (invented or injected) source is dropped, not re-pointed
    result = verify("Alibaba's fourth-quarter net income was ¥48.9 billion [secret.txt:1].", context_of(*CONTEXT))
    assert result.citations == []
    assert result.sentences[0].supported is False
    assert "secret.txt" not in result.text


def test_uncited_sentence_is_repaired_to_its_supporting_line(verify):
    result = verify("Alibaba's fourth-quarter net income was ¥48.9 billion.", context_of(*CONTEXT))
    assert [(c.source, c.start_line, c.repaired) for c in result.citations] == [("a.txt", 3, True)]
    assert_exact_quotes(result)


def test_sentence_subject_name_must_be_in_the_line(scorer, embedder):
    line = "Microsoft's recent $15 billion AI investment in Japan illustrates the global race for AI supremacy."
    claim = "Tencent's AI investment is $15 billion."
    vectors = embedder.encode([claim, line])
    assert scorer.score(claim, vectors[0], line, vectors[1]) < THRESHOLD
    fair = "Microsoft's AI investment in Japan is $15 billion."
    vectors = embedder.encode([fair, line])
    assert scorer.score(fair, vectors[0], line, vectors[1]) >= THRESHOLD


def test_line_outside_the_context_is_not_cited(verify):
    # a.txt:3 exists in the file but was not shown to the model
    result = verify("Alibaba's net income in the fourth quarter was ¥48.9 billion [a.txt:3].", context_of(("a.txt", 1), ("a.txt", 4)))
    assert result.citations == []


def test_number_missing_from_the_cited_line_makes_it_unsupported(verify):
    result = verify("Alibaba's net income in the fourth quarter was ¥52.7 billion [a.txt:3].", context_of(*CONTEXT))
    assert result.citations == []
    assert result.sentences[0].supported is False


def test_number_check_in_scorer(scorer, embedder):
    line = DOCUMENTS["a.txt"][2]
    good = "Alibaba's net income in the fourth quarter was ¥48.9 billion."
    bad = "Alibaba's net income in the fourth quarter was ¥52.7 billion."
    vectors = embedder.encode([good, bad, line])
    assert scorer.score(good, vectors[0], line, vectors[2]) >= THRESHOLD
    assert scorer.score(bad, vectors[1], line, vectors[2]) <= 0.2
    assert numbers("¥48.90 billion, 1,240 metres") == {"48.9", "1240"}


def test_conflicting_sources_keep_both_citations(verify):
    result = verify(
        "Cloud revenue grew 11% [a.txt:2] while another report says 13% [b.txt:19].", context_of(*CONTEXT)
    )
    cited = {(c.source, c.start_line) for c in result.citations}
    assert cited == {("a.txt", 2), ("b.txt", 19)}
    assert all(not c.repaired for c in result.citations)
    assert result.sentences[0].supported
    assert result.sentences[0].citations == ["[a.txt:2]", "[b.txt:19]"]
    assert_exact_quotes(result)


def test_two_sentences_each_verified_against_their_own_source(verify):
    result = verify(
        "Alibaba Cloud revenue grew 11% [a.txt:2]. Another report says Alibaba Cloud revenue rose 13% [b.txt:19].",
        context_of(*CONTEXT),
    )
    assert [(c.source, c.start_line) for c in result.citations] == [("a.txt", 2), ("b.txt", 19)]
    assert [s.supported for s in result.sentences] == [True, True]


def test_refusal_sentence_is_not_repaired_into_a_citation(verify):
    result = verify("I don't know.", context_of(*CONTEXT))
    assert result.citations == []


def test_verify_with_empty_context(verify, embedder):
    result = CitationVerifier(SupportScorer(embedder.encode, THRESHOLD), DOCUMENTS).verify(
        "Net income was ¥48.9 billion [a.txt:3].", [], np.zeros((0, embedder.dim), dtype=np.float32)
    )
    assert result.citations == []


# ---------------------------------------------------------------- is_refusal


@pytest.mark.parametrize(
    "text",
    [
        "I don't know.",
        "I dont know",
        "I do not know the answer.",
        "The passages do not mention Tencent's investment amount.",
        "The documents do not contain that figure.",
        "There is no information about Tencent in the passages.",
        "The exact amount is not specified.",
        "I cannot answer this from the passages.",
        "I can't determine that.",
        "I am unable to find the amount.",
    ],
)
def test_is_refusal_positive(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Net income was ¥48.9 billion [002_9fd4f84746180eec.txt:6].",
        "Alibaba invested in Moonshot and Zhipu.",
        "Alibaba Cloud revenue grew 11%, while another report says 13%.",
        "Know your customers.",
        "",
    ],
)
def test_is_refusal_negative(text):
    assert not is_refusal(text)


# ---------------------------------------------------------------- what the question already says


def test_a_year_from_the_question_stated_elsewhere_in_the_document_needs_no_support(verify):
    context = context_of(("c.txt", 3))
    answer = "Alibaba's revenue in the fourth quarter of 2024 was ¥280.2 billion [c.txt:3]."
    assert not verify(answer, context).citations  # 2024 is not on line 3
    result = verify(answer, context, question="What was Alibaba's revenue in the fourth quarter of 2024?")
    assert [(c.source, c.start_line) for c in result.citations] == [("c.txt", 3)]


def test_a_name_from_the_question_must_be_on_the_cited_line(verify):
    """Even when the document names Tencent elsewhere (c.txt:4), a line about Alibaba does not support it."""
    result = verify(
        "Tencent's AI investment is ¥280.2 billion [c.txt:3].",
        context_of(("c.txt", 3)),
        question="What is the exact amount of Tencent's AI investment?",
    )
    assert result.citations == [] and result.sentences[0].supported is False


def test_a_count_is_not_supported_by_an_amount_with_the_same_number(verify):
    result = verify("Alibaba will build 380 new data centres [c.txt:1].", context_of(("c.txt", 1)))
    assert result.citations == []
    assert verify("Alibaba will invest 380 billion yuan [c.txt:1].", context_of(("c.txt", 1))).citations
