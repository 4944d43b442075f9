"""The official `openai` client against a real `rag serve` (real local model) over seeds/."""

from __future__ import annotations

import pytest

from server_process import running_server
from rag.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "What was Alibaba's net income in the fourth quarter?"
SOURCE = "002_9fd4f84746180eec.txt"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("openai-index")
    with running_server(PROJECT_ROOT / "seeds", index_dir) as server:
        yield server


def test_streaming_chat_completion_with_citations(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=300, max_retries=0)
    stream = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    parts: list[str] = []
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
    text = "".join(parts)
    assert chunks, "no chunks streamed"
    assert "48.9" in text, text

    final = chunks[-1]
    extra = final.model_extra or {}
    citations = extra.get("citations") or final.to_dict().get("citations")
    assert citations, f"final chunk has no citations: {final.to_dict()}"
    assert any(c["source"] == SOURCE for c in citations), citations
    assert final.choices and final.choices[0].finish_reason == "stop"
    assert all(c.get("verified") for c in citations if c["source"] == SOURCE), citations
