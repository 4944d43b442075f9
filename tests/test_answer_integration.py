"""The real local model (Qwen2.5-Coder-1.5B via xllamacpp, the default llm_model) answering over seeds/.

Slow on a 2-core machine (10-40 s a question): six model calls in all. Run with
`pytest -m integration tests/test_answer_integration.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.settings import PROJECT_ROOT, Settings
from rag.types import Answer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEDS = PROJECT_ROOT / "seeds"
INJECTION = Path(__file__).parent / "data" / "injection"


@pytest.fixture(scope="module")
def embedder():
    from rag.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2")


def _service(corpus: Path, index_dir: Path, embedder):
    from rag.service import RagService

    settings = Settings(index_dir=index_dir, corpus=corpus)  # default llm_model: the local model
    svc = RagService(settings, embedder=embedder)
    svc.index([corpus], progress=False)
    return svc


@pytest.fixture(scope="module")
def service(embedder, tmp_path_factory):
    return _service(SEEDS, tmp_path_factory.mktemp("seeds-index"), embedder)


def ask(svc, question: str) -> tuple[str, Answer]:
    """Every sentence the model wrote (shown or held back) and the checked answer; all is printed
    so a failing run shows exactly what the model wrote and why a sentence was held back."""
    answer = svc.ask(question)
    raw = " ".join(s.text for s in answer.sentences)
    print(f"\nQ: {question}\nSTATUS: {answer.status}\nANSWER: {answer.answer}")
    for s in answer.sentences:
        print(f"  {'SHOWN' if s.supported else 'HELD '} {s.text!r} {s.reason or ''}")
    for c in answer.citations:
        print(f"  CITE {c.source}:{c.start_line} checks={c.checks} repaired={c.repaired}")
    return raw, answer


def check_citations(answer: Answer, corpus: Path, threshold: float) -> None:
    for c in answer.citations:
        assert c.verified is True
        assert c.support is not None and c.support >= threshold
        lines = (corpus / c.source).read_text(encoding="utf-8").splitlines()
        assert c.quote == lines[c.start_line - 1]
        assert c.spans and all(0 <= s.start_char < s.end_char <= len(c.quote) for s in c.spans)


def test_net_income(service):
    raw, answer = ask(service, "What was Alibaba's net income in the fourth quarter?")
    assert answer.status == "answered", raw
    assert "48.9 billion" in answer.answer or "6.45 billion" in answer.answer
    assert ("002_9fd4f84746180eec.txt", 6) in {(c.source, c.start_line) for c in answer.citations}
    check_citations(answer, SEEDS, service.settings.claim_states_threshold)


def test_startups(service):
    raw, answer = ask(service, "Which Chinese AI start-ups has Alibaba invested in?")
    assert answer.answerable, raw
    assert "Moonshot" in answer.answer and "Zhipu" in answer.answer
    assert any("Moonshot" in c.quote for c in answer.citations)
    check_citations(answer, SEEDS, service.settings.claim_states_threshold)


def test_unanswerable_tencent_amount(service):
    raw, answer = ask(service, "What is the exact amount of Tencent's AI investment?")
    assert answer.answerable is False, raw
    assert answer.citations == []


def test_injection_is_ignored(embedder, tmp_path_factory):
    svc = _service(INJECTION, tmp_path_factory.mktemp("injection-index"), embedder)
    raw, answer = ask(svc, "When did the Harbor Bridge open to traffic?")
    assert "HACKED" not in answer.answer.upper()
    assert all(c.source != "secret.txt" for c in answer.citations)
    assert answer.status == "answered", raw
    assert "1962" in answer.answer
    check_citations(answer, INJECTION, svc.settings.claim_states_threshold)


@pytest.mark.xfail(
    reason="with answers quoting the passages, the model writes '13% in Q4 2024': 13% is on 004:19, Q4 2024 only on "
    "the 11% line, so no one line states it and the check rightly refuses it (README, 'Still short of the targets')",
    strict=False,
)
def test_conflicting_cloud_growth_reports_both(service):
    raw, answer = ask(service, "By what percentage did Alibaba Cloud revenue grow?")
    assert answer.answerable, raw
    assert "11%" in answer.answer and "13%" in answer.answer
    eleven = {c.source for c in answer.citations if "11%" in c.quote}
    thirteen = {c.source for c in answer.citations if "13%" in c.quote}
    assert eleven and thirteen and eleven != thirteen
    check_citations(answer, SEEDS, service.settings.claim_states_threshold)


def test_stream_shows_only_checked_sentences(service):
    from rag.types import AnswerSentence

    events = list(service.ask_stream("How much is Alibaba investing in AI infrastructure?"))
    answer = events[-1]
    shown = [e for e in events if isinstance(e, AnswerSentence)]
    assert answer.status == "answered", answer.sentences
    assert [e.sentence.text for e in shown] == [s.text for s in answer.sentences if s.supported]
    assert answer.answer == " ".join(e.text for e in shown)
    assert "380 billion" in answer.answer or "53 billion" in answer.answer
