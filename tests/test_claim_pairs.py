"""Checks on the labelled claim pairs (evals/golden/claims.jsonl), fast and model-free.

The file itself: fields, labels, ids, that every cited line exists, enough pairs of each label.
And the rules: a `contradicted` pair whose claim holds a figure the cited line lacks, or that the
line has going the other way (by the rules' own direction words), is rejected by `rule_check`
without asking a model.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rag.check import _direction, find_evidence, opposite_word, rule_check
from rag.loaders import split_lines
from rag.text import numbers, quantities

ROOT = Path(__file__).resolve().parents[1]
PAIRS_FILE = ROOT / "evals" / "golden" / "claims.jsonl"
SEEDS = ROOT / "seeds"

LABELS = {"supported", "contradicted", "unrelated"}
MISTAKES = {"direction", "figure", "subject", "swap", "name", "period", "negation", "antonym"}
FIELDS = {"id": str, "question": str, "claim": str, "source": str, "line": int, "label": str, "note": str}
MINIMUM = {"supported": 40, "contradicted": 40, "unrelated": 25}
_FREE_NUMBER = re.compile(r"(?<![\w.,])(?<![A-Za-z]-)\d+(?:[.,]\d+)*(?![A-Za-z])")  # not glued to letters

PAIRS = [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
DOCS = {p.name: split_lines(p.read_text(encoding="utf-8")) for p in SEEDS.glob("*.txt")}


def _line(pair: dict) -> str:
    return DOCS[pair["source"]][pair["line"] - 1]


def _rule(pair: dict) -> str | None:
    evidence = find_evidence(pair["claim"], pair["source"], pair["line"], _line(pair))
    return rule_check(pair["claim"], [evidence], pair["question"], "\n".join(DOCS[pair["source"]])).reason


def test_fields_and_labels_are_valid():
    for pair in PAIRS:
        for name, kind in FIELDS.items():
            assert isinstance(pair.get(name), kind) and pair[name] != "", f"{pair.get('id')}: {name}"
        assert set(pair) <= set(FIELDS) | {"answers", "mistake"}, pair["id"]
        assert pair["label"] in LABELS, pair["id"]
        assert "answers" in pair and pair["answers"] in (True, False, None), pair["id"]
        if pair["label"] == "contradicted":
            assert pair.get("mistake") in MISTAKES, pair["id"]
        else:
            assert "mistake" not in pair, pair["id"]


def test_ids_are_unique():
    counts = Counter(pair["id"] for pair in PAIRS)
    assert not [i for i, n in counts.items() if n > 1]


def test_every_cited_line_exists_and_has_text():
    for pair in PAIRS:
        assert pair["source"] in DOCS, pair["id"]
        assert 1 <= pair["line"] <= len(DOCS[pair["source"]]), pair["id"]
        assert _line(pair).strip(), f"{pair['id']}: {pair['source']}:{pair['line']} is blank"


def test_enough_pairs_of_each_label():
    counts = Counter(pair["label"] for pair in PAIRS)
    for label, least in MINIMUM.items():
        assert counts[label] >= least, f"{label}: {counts[label]}"
    assert sum(p["label"] == "supported" and p["answers"] is False for p in PAIRS) >= 25


def test_the_bug_report_cases_are_in_the_set():
    wanted = [
        ("003_02a43008e7f09149.txt", 30, "contradicted", "fell 68%"),
        ("001_aadfbd5aacc872f0.txt", 18, "contradicted", "Amazon plans to invest approximately $65 billion"),
        ("002_9fd4f84746180eec.txt", 7, "unrelated", "Apple is incorporating"),
        ("002_9fd4f84746180eec.txt", 5, "supported", "Apple is incorporating"),
        ("002_9fd4f84746180eec.txt", 1, "supported", "BABA"),
        ("002_9fd4f84746180eec.txt", 1, "supported", "¥380 billion"),
        ("001_aadfbd5aacc872f0.txt", 22, "supported", "Robert Lea and Jasmine Lyu"),
        ("004_b97a088659d14c45.txt", 19, "supported", "RMB 31.74 billion"),
    ]
    for source, line, label, words in wanted:
        assert any(p["source"] == source and p["line"] == line and p["label"] == label and words in p["claim"] for p in PAIRS), words


def _figure_the_line_lacks(pair: dict) -> str | None:
    """A figure of the claim that the cited line does not hold as the same number, kind (%, money,
    count) and currency. Numbers the question gives and the document states elsewhere are allowed
    (as rule_check allows them); numbers glued to letters are names, not figures (Q4, GPT-4o)."""
    given = numbers(pair["question"]) & numbers("\n".join(DOCS[pair["source"]]))
    free = {m.start() for m in _FREE_NUMBER.finditer(pair["claim"])}
    held = quantities(_line(pair))
    for figure in quantities(pair["claim"]):
        start = figure.start + figure.text.index(_digits(figure.text))
        if start not in free or figure.number in given:
            continue
        if not any(q.number == figure.number and q.kind == figure.kind and q.currency == figure.currency for q in held):
            return figure.text.strip()
    return None


def _digits(text: str) -> str:
    return re.search(r"\d+(?:[.,]\d+)*", text).group(0)


def _figure_going_the_other_way(pair: dict) -> str | None:
    """A percentage or amount of the claim that the line gives with the opposite direction word."""
    line = _line(pair)
    for figure in quantities(pair["claim"]):
        claimed = _direction(pair["claim"], figure.start, figure.end)
        if figure.kind == "count" or not claimed:
            continue
        stated = {_direction(line, q.start, q.end) for q in quantities(line) if q.number == figure.number and q.kind == figure.kind}
        if stated and None not in stated and claimed not in stated:
            return figure.text.strip()
    return None


CONTRADICTED = [p for p in PAIRS if p["label"] == "contradicted"]
CHECKABLE = [p for p in CONTRADICTED if _figure_the_line_lacks(p) or _figure_going_the_other_way(p)]


@pytest.mark.parametrize("pair", CHECKABLE, ids=[p["id"] for p in CHECKABLE])
def test_contradicted_figures_are_rejected_by_the_rules(pair):
    why = _figure_the_line_lacks(pair) or _figure_going_the_other_way(pair)
    assert _rule(pair), f"{pair['claim']!r} passes the rules on {pair['source']}:{pair['line']} ({why})"


def test_the_rules_apply_to_enough_contradicted_pairs():
    assert len(CHECKABLE) >= 15


ANTONYMS = [p for p in CONTRADICTED if p.get("mistake") == "antonym"]


@pytest.mark.parametrize("pair", ANTONYMS, ids=[p["id"] for p in ANTONYMS])
def test_a_claim_saying_the_opposite_of_its_line_is_rejected_by_the_rules(pair):
    assert _rule(pair), f"{pair['claim']!r} passes the rules on {pair['source']}:{pair['line']}"


def test_no_supported_pair_is_taken_for_the_opposite_of_its_line():
    assert len(ANTONYMS) >= 6
    taken = [p["id"] for p in PAIRS if p["label"] == "supported"
             and opposite_word(p["claim"], [find_evidence(p["claim"], p["source"], p["line"], _line(p))])]
    assert taken == []
