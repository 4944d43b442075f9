"""The chat page in a real headless Chromium against a real `rag serve` (real local model).

One server (module fixture) over a copy of seeds/ plus tests/data/xss/xss.md, a file whose
lines hold HTML that would run script if the page ever inserted document text as markup.
Two model calls in all: one per test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from server_process import running_server
from rag.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
XSS_DIR = Path(__file__).resolve().parent / "data" / "xss"
SCRIPT_LINE = "<script>window.__xss=1</script>"
IMG_LINE = '<img src=x onerror="window.__xss=2">'
ANSWER_TIMEOUT_MS = 180_000
DONE = '.message.assistant[data-done="true"]'

if not CHROMIUM.is_file() and not os.environ.get("CI"):
    pytest.skip(
        "/usr/bin/chromium is not installed (apt-get install -y chromium; scripts/test.sh does this)",
        allow_module_level=True,
    )
if os.environ.get("CI"):
    from playwright.sync_api import sync_playwright  # in CI a missing package must fail, not skip
else:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("browser-corpus")
    for path in sorted((PROJECT_ROOT / "seeds").iterdir()):
        if path.is_file():
            shutil.copy2(path, corpus / path.name)
    shutil.copy2(XSS_DIR / "xss.md", corpus / "xss.md")
    index_dir = tmp_path_factory.mktemp("browser-index")
    with running_server(corpus, index_dir, {"RAG_API_KEYS": None}) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []  # uncaught exceptions in the page
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.wait_for_selector('#status[data-state="ready"]', timeout=30_000)
    yield page
    context.close()


def ask(page, question: str):
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_selector(DONE, timeout=ANSWER_TIMEOUT_MS)
    return page.locator(DONE).last


def test_answer_with_citation_opens_source_lines(page):
    ARTIFACTS.mkdir(exist_ok=True)
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    text = message.inner_text()
    assert message.get_attribute("data-status") == "answered", text
    assert "48.9" in text or "6.45" in text, text

    chip = message.locator("button.citation-chip").first
    chip.wait_for(state="visible")
    assert chip.get_attribute("data-source") == "002_9fd4f84746180eec.txt"
    chip.click()
    cited = page.locator("#source-panel .source-line.cited").first
    cited.wait_for(state="visible", timeout=30_000)
    assert "net income hitting" in cited.inner_text()
    start, end = int(chip.get_attribute("data-start")), int(chip.get_attribute("data-end"))
    numbers = [int(n) for n in page.locator("#source-panel .source-line.cited").evaluate_all(
        "rows => rows.map(r => r.dataset.line)")]
    assert numbers == list(range(start, end + 1))
    page.screenshot(path=str(ARTIFACTS / "chat-citation.png"))

    page.set_viewport_size({"width": 375, "height": 800})
    page.locator("#source-close").click()
    page.wait_for_selector("#source-panel", state="hidden")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    chip.click()  # reopen at phone width so the cited line is scrolled into view
    page.locator("#source-panel .source-line.cited").first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    assert page.errors == []


def test_document_html_is_shown_as_text_never_run(page):
    message = ask(page, "How long does the Zorblax 9000 take to boil one litre of water?")
    # open every passage list (not-found answers show related passages collapsed)
    page.evaluate("document.querySelectorAll('details.passages').forEach(d => d.open = true)")
    chips = message.locator('button[data-source="xss.md"]')
    assert chips.count() > 0, f"no chip for xss.md in the answer: {message.inner_text()}"
    chips.first.click()
    page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
    panel_lines = page.locator("#source-panel .source-line .line-text").all_inner_texts()
    assert SCRIPT_LINE in panel_lines, panel_lines
    assert IMG_LINE in panel_lines, panel_lines
    assert SCRIPT_LINE in page.locator("body").inner_text()
    page.wait_for_timeout(500)  # an injected <img onerror> would have fired by now
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-xss.png"))
    assert page.evaluate("window.__xss") is None
    assert page.locator("#source-panel script, #conversation script").count() == 0
    assert page.locator('#source-panel img, #conversation img').count() == 0
    assert page.errors == []
