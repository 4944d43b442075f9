"""Citations as the model writes them: parsing an answer's sentences and markers, and mapping each
citation to the context lines it names. No model. (How markers and labels are read and written is
tested in test_text.py; whether cited lines state a sentence, in the claim check's tests.)"""

from __future__ import annotations

import pytest

from rag.citations import (
    ContextLine,
    SourceAliases,
    cited_lines,
    is_about_the_passages,
    is_refusal,
    parse_answer,
    resolve_source,
)

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


def test_shortened_name_is_not_a_citation():
    [s] = parse_answer("Net income was ¥48.9 billion [002_9fd4].")
    assert s.citations == [] and s.text == "Net income was ¥48.9 billion."


@pytest.mark.parametrize("bracket", ["[sic]", "[1]", "[7]", "[a]", "[citation needed]", "[Reuters]"])
def test_a_bracket_that_is_not_a_citation_cites_nothing(bracket):
    [s] = parse_answer(f"Net income was ¥48.9 billion {bracket}.")
    assert s.citations == []


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


# ---------------------------------------------------------------- which context lines a citation names

SOURCES = ["000_c7bc9c907a8bee7e.txt", "002_9fd4f84746180eec.txt", "guides/setup.md"]


def test_resolve_source_tolerates_case_folder_and_extension_only():
    assert resolve_source("002_9fd4f84746180eec.txt", SOURCES) == "002_9fd4f84746180eec.txt"
    assert resolve_source("002_9FD4F84746180EEC.TXT", SOURCES) == "002_9fd4f84746180eec.txt"
    assert resolve_source("002_9fd4f84746180eec.md", SOURCES) == "002_9fd4f84746180eec.txt"
    assert resolve_source("setup.md", SOURCES) == "guides/setup.md"
    assert resolve_source("guides/setup.txt", SOURCES) == "guides/setup.md"
    assert resolve_source("guides/setup", SOURCES) == "guides/setup.md"
    assert resolve_source("002_9fd4.txt", SOURCES) is None  # shortened: no prefix matching
    assert resolve_source("002_9fd4", SOURCES) is None
    assert resolve_source("00", SOURCES) is None
    assert resolve_source("secret.txt", SOURCES) is None
    assert resolve_source("a.txt", ["x/a.txt", "y/a.txt"]) is None  # ambiguous


def test_a_garbled_name_resolves_by_its_identifier_alone():
    sources = ["001_aadfbd5aacc872f0.pdf", "002_9fd4f84746180eec.txt", "report_2023.txt", "minutes_2024q1.txt"]
    assert resolve_source("report_aadfbd5aacc872f0.pdf", sources) == "001_aadfbd5aacc872f0.pdf"
    assert resolve_source("aadfbd5aacc872f0.txt", sources) == "001_aadfbd5aacc872f0.pdf"
    assert resolve_source("report_a.txt", sources) is None  # no identifier: the prompt's example
    assert resolve_source("report_2024.txt", sources) is None  # digits alone are no identifier
    assert resolve_source("notes_9fd4f847.txt", sources) is None  # a part of an identifier is not it
    assert resolve_source("x_aadfbd5aacc872f0.pdf", [*sources, "copy_aadfbd5aacc872f0.pdf"]) is None  # ambiguous


def test_a_word_never_resolves_to_a_file_containing_it():
    sources = ["music.txt", "reuters_2024.txt", "a.txt", "sic.txt"]
    for name in ("sic", "SIC", "Reuters", "a", "usic.txt", "mus"):
        assert resolve_source(name, sources) is None, name


CONTEXT = [
    ContextLine("a.txt", 1, "Alibaba shares hit a three-year high."),
    ContextLine("a.txt", 3, "Alibaba's fourth-quarter net income hit ¥48.9 billion ($6.45 billion)."),
    ContextLine("b.txt", 19, "Alibaba Cloud has seen a 13% revenue increase."),
    ContextLine("report.pdf", 12, "Revenue rose 8%.", page=3),
    ContextLine("report.pdf", 12, "Costs fell.", page=4),
]
CONTEXT_SOURCES = sorted({c.source for c in CONTEXT})


def lines_cited(answer: str) -> list[list[int]]:
    return [[i for raw in s.citations for i in cited_lines(raw, CONTEXT_SOURCES, CONTEXT)] for s in parse_answer(answer)]


def test_cited_lines_are_context_lines_the_citation_names():
    assert lines_cited("Net income was ¥48.9 billion [a.txt:3].") == [[1]]
    assert lines_cited("Alibaba [a.txt:1-3].") == [[0, 1]]
    assert lines_cited("Alibaba [A.TXT].") == [[0, 1]]
    assert lines_cited("Cloud grew 13% [b.txt:19]. Shares rose [a.txt:1].") == [[2], [0]]


def test_cited_lines_on_a_page():
    assert lines_cited("Revenue rose 8% [report.pdf:p3:12].") == [[3]]
    assert lines_cited("Costs fell [report.pdf:p4:12].") == [[4]]
    assert lines_cited("Revenue rose 8% [report.pdf:12].") == [[3, 4]]


def test_lines_never_shown_or_files_never_retrieved_are_not_cited():
    assert lines_cited("Net income was ¥48.9 billion [a.txt:2].") == [[]]  # a.txt:2 was not in the context
    assert lines_cited("HACKED [secret.txt:1].") == [[]]
    assert lines_cited("Net income was ¥48.9 billion [3].") == [[]]
    assert lines_cited("Net income was ¥48.9 billion [sic].") == [[]]


def test_context_line_labels():
    assert CONTEXT[1].label == "[a.txt:3]"
    assert CONTEXT[3].label == "[report.pdf:p3:12]"


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


@pytest.mark.parametrize(
    "text",
    [
        "Poverty alleviation programs in India are discussed in multiple passages, including, and.",
        "The passages describe several programmes.",
        "According to the provided text, the wall is old.",
        'Bert is called "Badr" and Ernie is called "Anis" in the first passage.',
        "The treaty is named in the second passage, with its date.",
    ],
)
def test_a_sentence_about_the_passages_is_recognised(text):
    assert is_about_the_passages(text)


@pytest.mark.parametrize(
    "text",
    [
        "The passage of the bill took two years.",
        "Amundsen sailed the Northwest Passage in 1906.",
        "Passages from the Bible are read at the service.",
        "Amundsen made the first passage through the strait in 1906.",
        "The fleet was lost in the same passage of the war.",
    ],
)
def test_a_fact_using_the_word_passage_is_not_about_the_passages(text):
    assert not is_about_the_passages(text)


# ---------------------------------------------------------------- the names the model is shown


def _shown_lines() -> list[ContextLine]:
    return [ContextLine("003_02a43008e7f09149.txt", 33, "a"), ContextLine("003_02a43008e7f09149.txt", 34, "b"),
            ContextLine("docs/report.pdf", 12, "c", page=3, end_line=14)]


def test_sources_are_shown_as_short_names_in_order_of_their_first_line():
    aliases = SourceAliases(_shown_lines())
    assert [aliases.label(line) for line in _shown_lines()] == ["[S1:33]", "[S1:34]", "[S2:p3:12-14]"]
    assert [SourceAliases(_shown_lines(), short=False).label(line) for line in _shown_lines()] == [
        "[003_02a43008e7f09149.txt:33]", "[003_02a43008e7f09149.txt:34]", "[docs/report.pdf:p3:12-14]"]


def test_the_models_short_names_become_file_citations_again():
    aliases = SourceAliases(_shown_lines())
    [sentence] = parse_answer(aliases.restore("Shares rose [S1:33, 34; s2:p3:12-14]."))
    assert sentence.text == "Shares rose."
    assert [(c.source, c.start, c.end, c.page) for c in sentence.citations] == [
        ("003_02a43008e7f09149.txt", 33, 33, None), ("003_02a43008e7f09149.txt", 34, 34, None),
        ("docs/report.pdf", 12, 14, 3)]


def test_only_short_names_that_were_shown_are_turned_into_files():
    aliases = SourceAliases(_shown_lines())
    text = "A [S9:3]. B [sic]. C [MS1:3]. D [S1.txt:2]. E [003_02a43008e7f09149.txt:33]. F S1:33."
    assert aliases.restore(text) == text  # unknown, not a name of ours, a file name, outside brackets
    assert [c.source for s in parse_answer(aliases.restore(text)) for c in s.citations] == [
        "S1.txt", "003_02a43008e7f09149.txt"]
    assert SourceAliases(_shown_lines(), short=False).restore("G [S1:33].") == "G [S1:33]."
