"""The disagreement check: other sources giving a different figure are quoted and cited."""

from __future__ import annotations

import pytest

from rag.citations import ContextLine
from rag.conflicts import figures, find_disagreements

ELEVEN = ContextLine(
    "a.txt",
    2,
    "The funding will expand data centres. Alibaba Cloud, the company’s fastest-growing division, saw an 11% "
    "year-on-year revenue increase in Q4 2024, with AI-related product revenue achieving triple-digit growth.",
)
THIRTEEN = ContextLine("b.txt", 19, "Alibaba Cloud has seen a 13% revenue increase to RMB 31.74 billion (US$4.35 billion).")
FIFTY_THREE = ContextLine("a.txt", 1, "Alibaba Group has announced plans to invest $53 billion (¥380 billion) in AI.")
YUAN = ContextLine("c.txt", 4, "Alibaba will spend 380 billion yuan on AI and cloud infrastructure over three years.")


@pytest.fixture(scope="module")
def encode(real_embedder):
    return real_embedder.encode


def test_figures_are_percentages_and_money_not_counts():
    found = {(f.kind, f.currency, f.scale, f.value) for f in figures("Revenue rose 8% to ¥280.2 billion ($36.96 billion), "
                                                                    "9 percent by another count, at 380 data centres.")}
    assert found == {
        ("%", None, "", 8.0),
        ("%", None, "", 9.0),
        ("money", "CNY", "billion", 280.2),
        ("money", "USD", "billion", 36.96),
    }


def test_a_figure_in_another_scale_or_currency_is_not_compared(encode):
    claims = [("Alibaba will spend ¥380 billion on AI.", {"a.txt"})]
    millions = ContextLine("c.txt", 4, "Alibaba will spend ¥400 million on AI.")
    dollars = ContextLine("c.txt", 5, "Alibaba will spend $400 billion on AI.")
    assert find_disagreements(claims, [millions, dollars], encode) == []


def test_a_different_figure_from_another_source_is_found(encode):
    found = find_disagreements([("Alibaba Cloud revenue grew by 13%.", {"b.txt"})], [ELEVEN, THIRTEEN], encode)
    assert len(found) == 1
    assert (found[0].line.source, found[0].line.line, found[0].figure) == ("a.txt", 2, "11%")
    assert "11%" in found[0].quote and found[0].quote in ELEVEN.text


def test_the_cited_source_and_agreeing_figures_are_not_conflicts(encode):
    assert find_disagreements([("Alibaba Cloud revenue grew by 11%.", {"a.txt"})], [ELEVEN], encode) == []
    same = ContextLine("c.txt", 1, "Alibaba Cloud's revenue was up 11% from a year earlier.")
    assert find_disagreements([("Alibaba Cloud revenue grew by 11%.", {"a.txt"})], [ELEVEN, same], encode) == []


def test_the_same_amount_in_another_currency_is_not_a_conflict(encode):
    claims = [("Alibaba plans to invest $53 billion in AI.", {"a.txt"})]
    assert find_disagreements(claims, [FIFTY_THREE, YUAN], encode) == []


def test_a_different_claim_with_another_figure_is_not_a_conflict(encode):
    revenue = ContextLine("c.txt", 3, "Alibaba's overall revenue rose 8% in the quarter.")
    claims = [("Alibaba Cloud revenue grew by 13%.", {"b.txt"})]
    assert find_disagreements(claims, [THIRTEEN, revenue], encode) == []


def test_a_sentence_without_figures_is_left_alone(encode):
    assert find_disagreements([("Alibaba invested in Moonshot and Zhipu.", {"b.txt"})], [ELEVEN, THIRTEEN], encode) == []


def test_a_sentence_giving_the_claims_own_figure_is_no_conflict(encode):
    # 001:18 gives Microsoft's $80 billion and Meta's $65 billion: the $65 billion is Meta's, not a
    # second figure for Microsoft's spending.
    both = ContextLine("001.txt", 18, "For example, Microsoft anticipates spending $80 billion specifically on AI data centers "
                                      "within the current fiscal year, and Meta has allocated $65 billion for similar investments by 2025.")
    claims = [("Microsoft is allocating $80 billion to AI data centres this fiscal year.", {"002.txt"})]
    assert find_disagreements(claims, [both], encode) == []
    other = ContextLine("003.txt", 4, "Microsoft anticipates spending $75 billion on AI data centers within the current fiscal year.")
    assert [d.figure for d in find_disagreements(claims, [both, other], encode)] == ["$75 billion"]
