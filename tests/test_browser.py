"""The chat page in a real headless Chromium.

Two servers. `server` (integration): a real `rag serve` (real embedder, real local model) over a
copy of seeds/ plus tests/data/xss/xss.md, a file whose lines hold HTML that would run script if
the page ever inserted document text as markup; two model calls in all, the two integration
tests. `fake_served`: the app served in this process over the same files, indexed with the
hashing test embedder, with the fake LLM; the page tests on it intercept `/v1/ask` in the browser
(`page.route`) and answer it with a fixed answer object or event stream, so they check the page's
rendering of the API's answer shape (checked `sentences`, `citations` with `spans`, statuses)
without a model, while `/health` and `/v1/sources` come from the served app unless a test
intercepts them too. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from chromium import ARTIFACTS, ask, launched, require_chromium
from server_process import fake_app_served, running_server, serve_in_thread
from rag.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS_DIR = Path(__file__).resolve().parent / "data" / "xss"
SCRIPT_LINE = "<script>window.__xss=1</script>"
IMG_LINE = '<img src=x onerror="window.__xss=2">'

require_chromium()


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
    with launched() as browser:
        yield browser


def open_page(browser, url: str, viewport: dict | None = None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []  # uncaught exceptions in the page
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url + "/", wait_until="domcontentloaded")
    page.wait_for_selector('#status[data-state="ready"]', timeout=30_000)
    return page


@pytest.fixture
def model_page(browser, server):
    """The page on the real server (real model)."""
    page = open_page(browser, server.url)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def fake_served(tmp_path_factory):
    """The app served in this process over seeds/ and xss.md: hashing embedder, fake LLM."""
    corpus = tmp_path_factory.mktemp("browser-fake-corpus")
    for path in sorted((PROJECT_ROOT / "seeds").iterdir()):
        if path.is_file():
            shutil.copy2(path, corpus / path.name)
    shutil.copy2(XSS_DIR / "xss.md", corpus / "xss.md")
    with fake_app_served(corpus, tmp_path_factory.mktemp("browser-fake-index"), api_keys=[]) as url:
        yield url


@pytest.fixture
def page(browser, fake_served):
    """The page on the in-process app (no model); tests answer /v1/ask themselves."""
    page = open_page(browser, fake_served)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def modelless_url(tmp_path_factory):
    """The app served in this process over an empty folder: no index and no model, which the
    doc pages and the chat page's own files do not need."""
    from api.app import create_app
    from rag.settings import Settings

    settings = Settings(index_dir=tmp_path_factory.mktemp("no-index"), api_keys=[])
    url, server, thread = serve_in_thread(create_app(settings, warm_up=False))
    yield url
    server.should_exit = True
    thread.join(10)


def offline_page(browser):
    """A page whose requests to any other host are refused (and recorded in `page.blocked`)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.blocked = []
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def only_this_machine(route):
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in ("127.0.0.1", "localhost"):
            page.blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_this_machine)
    return page


def test_docs_render_with_no_network(browser, modelless_url):
    page = offline_page(browser)
    try:
        page.goto(modelless_url + "/docs", wait_until="domcontentloaded")
        for path in ("/v1/ask", "/v1/search", "/v1/sources/{source}", "/v1/pages/{source}", "/v1/chat/completions", "/health"):
            page.locator(".opblock-summary-path", has_text=path).first.wait_for(state="visible", timeout=30_000)
        assert page.get_by_text("/v1/ask", exact=True).first.is_visible()
        assert page.locator(".opblock").count() == 6
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
        assert page.blocked == []  # it asked for nothing beyond this machine
        assert page.errors == []
    finally:
        page.context.close()


def test_chat_page_runs_under_its_content_security_policy(browser, modelless_url):
    page = offline_page(browser)
    try:
        page.add_init_script("""
            window.__violations = [];
            document.addEventListener('securitypolicyviolation',
                e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        """)
        response = page.goto(modelless_url + "/", wait_until="domcontentloaded")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # app.js ran and fetched /health (no index here, so the page says it is not ready)
        page.wait_for_selector('#status:not([data-state="unknown"])', timeout=30_000)
        page.fill("#question", "Typing resizes the box from app.js")
        assert page.evaluate("getComputedStyle(document.querySelector('#composer')).display") == "flex"  # style.css
        assert page.evaluate("window.__violations") == []
        assert page.blocked == [] and page.errors == []
    finally:
        page.context.close()


@pytest.mark.integration
def test_answer_with_citation_opens_source_lines(model_page):
    page = model_page
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
    page.wait_for_timeout(250)  # let the panel's slide-in finish before the screenshot
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


@pytest.mark.integration
def test_document_html_is_shown_as_text_never_run(model_page):
    page = model_page
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


# ----------------------------------------------------------------- fixed answers, no model

NET_INCOME_SOURCE = "002_9fd4f84746180eec.txt"
UNSUPPORTED = "Profit fell 68% in the quarter."
NO_ANSWER_TEXT = "The documents do not contain an answer to this question."
UNVERIFIED_TEXT = "Related passages were found, but no answer could be checked against them."


def corpus_line(source: str, n: int) -> str:
    from rag.loaders import split_lines

    return split_lines((PROJECT_ROOT / "seeds" / source).read_bytes().decode("utf-8"))[n - 1]


def sse(events: list[tuple[str, dict]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n" for name, data in events)


def route_ask(page, *, status: int = 200, json_body: dict | None = None, sse_body: str | None = None) -> list[dict]:
    """Answer every POST /v1/ask in this page with a fixed body; returns the request bodies seen."""
    seen: list[dict] = []

    def handle(route):
        seen.append(json.loads(route.request.post_data or "{}"))
        if sse_body is not None:
            route.fulfill(status=status, body=sse_body, headers={"Content-Type": "text/event-stream; charset=utf-8"})
        else:
            route.fulfill(status=status, body=json.dumps(json_body, ensure_ascii=False),
                          headers={"Content-Type": "application/json"})

    page.route("**/v1/ask", handle)
    return seen


def record_streamed_sentences(page) -> None:
    """Keep (in window.__streamed) the text of every sentence appended to a streaming answer."""
    page.evaluate("""() => {
        window.__streamed = [];
        new MutationObserver((records) => {
            for (const r of records) {
                if (!(r.target instanceof Element) || !r.target.matches('.answer-text.streaming')) continue;
                for (const n of r.addedNodes) {
                    if (n instanceof Element && n.matches('.sentence')) {
                        window.__streamed.push({text: n.textContent,
                                                chips: n.querySelectorAll('button.citation-chip').length});
                    }
                }
            }
        }).observe(document.querySelector('#conversation'), {childList: true, subtree: true});
    }""")


def text_without_chips(locator) -> str:
    """The element's text with its citation chips taken out."""
    return locator.evaluate("""n => {
        const copy = n.cloneNode(true);
        copy.querySelectorAll('button.citation-chip, .citation-raw').forEach(c => c.remove());
        return copy.textContent.replace(/\\s+/g, ' ').replace(/ ([.!?])/g, '$1').trim();
    }""")


def net_income_answer() -> tuple[dict, dict, str]:
    """An answer whose first sentence cites line 6 with a span; its second sentence failed the check."""
    line = corpus_line(NET_INCOME_SOURCE, 6)
    start = line.index("net income hitting")
    end = line.index("($6.45 billion)") + len("($6.45 billion)")
    label = f"[{NET_INCOME_SOURCE}:6]"
    citation = {
        "source": NET_INCOME_SOURCE, "start_line": 6, "end_line": 6, "page": None, "quote": line,
        "verified": True, "repaired": False, "support": 0.93, "checks": {"states": 0.93, "answers": 0.88},
        "spans": [{"line": 6, "start_char": start, "end_char": end}],
    }
    supported = {"text": "Net income was ¥48.9 billion ($6.45 billion).", "supported": True,
                 "citations": [label], "reason": None}
    unsupported = {"text": UNSUPPORTED, "supported": False, "citations": [],
                   "reason": "the cited line does not state it"}
    answer = {
        "answer": f"Net income was ¥48.9 billion ($6.45 billion) {label}.",
        "answerable": True,
        "status": "answered",
        "citations": [citation],
        "sentences": [supported, unsupported],
        "passages": [{"source": NET_INCOME_SOURCE, "start_line": 6, "end_line": 6, "text": line, "score": 0.8}],
        "model": "fake/model",
        "timings_ms": {"retrieve": 5, "generate": 20, "total": 30},
    }
    delta = {"text": f"Net income was ¥48.9 billion ($6.45 billion) {label}. ", "sentence": supported,
             "citations": [citation]}
    return answer, delta, line[start:end]


def test_checked_sentences_chips_and_span_highlight(page):
    answer, delta, span_text = net_income_answer()
    requests = route_ask(page, sse_body=sse([("delta", delta), ("answer", answer)]))
    record_streamed_sentences(page)
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    assert requests and requests[0].get("stream") is True

    # while streaming, the checked sentence was appended with its chip
    streamed = page.evaluate("window.__streamed")
    assert streamed and "Net income was ¥48.9 billion" in streamed[0]["text"], streamed
    assert streamed[0]["chips"] == 1, streamed

    assert message.get_attribute("data-status") == "answered"
    answer_text = message.locator(".answer-text")
    assert answer_text.count() == 1
    shown = answer_text.inner_text()
    assert text_without_chips(answer_text) == "Net income was ¥48.9 billion ($6.45 billion).", shown
    # the chip stands where the service writes the label: before the sentence's period
    assert answer_text.locator(".sentence .cite-group").evaluate(
        "g => [...g.childNodes].map(n => n.className)") == ["citation-chip", "sentence-end"]
    assert UNSUPPORTED not in shown, shown
    assert f"[{NET_INCOME_SOURCE}:6]" not in shown, shown  # the label is a chip, not text
    # the dropped claim is never visible as answer text (at most in a collapsed, marked detail)
    for handle in page.get_by_text(UNSUPPORTED).all():
        assert not handle.is_visible()
        assert handle.evaluate("n => !n.closest('.answer-text') && !!n.closest('details.dropped')")

    chips = answer_text.locator("button.citation-chip")
    assert chips.count() == 1
    chip = chips.first
    assert chip.is_visible()
    assert chip.get_attribute("data-source") == NET_INCOME_SOURCE
    assert (chip.get_attribute("data-start"), chip.get_attribute("data-end")) == ("6", "6")
    assert chip.inner_text().replace("\n", "") == f"{NET_INCOME_SOURCE}:6"

    chip.click()
    page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
    cited = page.locator("#source-panel .source-line.cited")
    assert cited.evaluate_all("rows => rows.map(r => r.dataset.line)") == ["6"]
    assert "net income hitting" in cited.first.inner_text()
    marks = page.locator("#source-panel mark.span")
    assert marks.count() == 1
    assert marks.first.text_content() == span_text
    assert marks.first.evaluate("m => m.closest('.source-line').dataset.line") == "6"
    # the whole line is still there, the mark only wraps the span's characters
    full = cited.first.locator(".line-text").text_content()
    assert full == corpus_line(NET_INCOME_SOURCE, 6)
    # a span's mark looks different from the cited line's highlight
    assert marks.first.evaluate("m => getComputedStyle(m).backgroundColor") != cited.first.evaluate(
        "r => getComputedStyle(r).backgroundColor")
    page.wait_for_timeout(200)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "citation-span.png"))
    assert page.errors == []


def test_paged_citation_label_and_span_as_text(page):
    """A PDF citation: chip label names the page, the source request carries page=, and span
    text that looks like HTML is marked as text, never run."""
    lines = ["Intro line", "<b>Revenue</b> grew <img src=x onerror=\"window.__xss=3\"> 12% to $5m.", "Outro"]
    start = lines[1].index("12%")
    label = "[report.pdf:p3:12-13]"
    citation = {"source": "report.pdf", "start_line": 12, "end_line": 13, "page": 3, "quote": "\n".join(lines[1:]),
                "verified": True, "repaired": False, "support": 0.9,
                "spans": [{"line": 12, "start_char": start, "end_char": start + len("12% to $5m")}]}
    # an equal-looking citation on another page must not be picked for this label
    other = dict(citation, page=4, spans=[])
    answer = {
        "answer": f"Revenue grew 12% {label}.", "answerable": True, "status": "answered",
        "citations": [other, citation],
        "sentences": [{"text": "Revenue grew 12%.", "supported": True, "citations": [label], "reason": None}],
        "passages": [], "model": "fake/model", "timings_ms": {},
    }
    route_ask(page, json_body=answer)
    source_urls: list[str] = []

    def sources(route):
        source_urls.append(route.request.url)
        route.fulfill(status=200, headers={"Content-Type": "application/json"},
                      body=json.dumps({"source": "report.pdf", "start_line": 11, "end_line": 13, "lines": lines}))

    page.route("**/v1/sources/report.pdf*", sources)
    message = ask(page, "How much did revenue grow?")
    chip = message.locator(".answer-text button.citation-chip")
    assert chip.count() == 1
    assert chip.get_attribute("data-page") == "3"
    assert chip.inner_text().replace("\n", "") == "report.pdf:p3:12-13"
    chip.click()
    page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
    query = parse_qs(urlparse(source_urls[-1]).query)
    assert query["page"] == ["3"], source_urls
    assert page.locator("#source-panel .source-line.cited").evaluate_all(
        "rows => rows.map(r => r.dataset.line)") == ["12", "13"]
    assert page.locator("#source-panel mark.span").all_text_contents() == ["12% to $5m"]
    assert "page 3" in page.locator("#source-sub").inner_text()
    assert page.locator("#source-panel .source-line .line-text").all_text_contents()[1] == lines[1]
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#source-panel img, #source-panel b").count() == 0
    assert page.errors == []


PASSAGE = {"source": NET_INCOME_SOURCE, "start_line": 6, "end_line": 6, "text": "net income hitting ¥48.9 billion",
           "score": 0.5}


def status_answer(status: str, answer: str) -> dict:
    return {"answer": answer, "answerable": False, "status": status, "citations": [],
            "sentences": [{"text": "The Zorblax boils water in 3 minutes.", "supported": False, "citations": [],
                           "reason": "no cited line states it"}] if status == "unverified" else [],
            "passages": [PASSAGE], "model": "fake/model", "timings_ms": {}}


@pytest.mark.parametrize(
    ("status", "http_status", "heading", "shows_passages"),
    [
        ("not_found", 200, NO_ANSWER_TEXT, False),
        ("declined", 200, NO_ANSWER_TEXT, False),
        ("unverified", 200, UNVERIFIED_TEXT, True),
        ("model_unavailable", 200, "The model is unavailable", True),
        ("model_unavailable", 502, "The model is unavailable", True),
    ],
)
def test_status_wording(page, status, http_status, heading, shows_passages):
    body = status_answer(status, "The model is unavailable (fake: boom); here is what was found."
                         if status == "model_unavailable" else "Some words from the model.")
    if http_status != 200:
        body = {"detail": "the model provider failed", **body}
    route_ask(page, status=http_status, json_body=body)
    message = ask(page, "How long does the Zorblax 9000 take to boil one litre of water?")
    assert message.get_attribute("data-status") == status
    text = message.inner_text()
    assert heading in text, text
    for handle in message.get_by_text("Zorblax boils water").all():  # a dropped claim: never visible
        assert not handle.is_visible()
    passages = message.locator("details.passages")
    assert passages.count() == 1
    assert passages.first.evaluate("d => d.open") is shows_passages
    if status == "model_unavailable":
        assert "error" in message.get_attribute("class")
        assert "fake: boom" in message.locator(".unavailable-detail").inner_text()
    else:
        assert "Some words from the model." not in text  # the fixed wording, not unchecked text
    for other in {NO_ANSWER_TEXT, UNVERIFIED_TEXT, "The model is unavailable"} - {heading}:
        assert other not in text
    # the card says its title once: the body does not restate it
    assert message.locator(".notice-head").count() == 1
    assert text.count(heading) == 1, text
    if status == "unverified":
        assert text.count("Related passages") == 1, text
        assert passages.first.locator("summary").inner_text() == "Passages (1)"
        ARTIFACTS.mkdir(exist_ok=True)
        message.screenshot(path=str(ARTIFACTS / "card-unverified.png"))
    assert page.errors == []


# ------------------------------------------------------------- answers from `sentences`


def test_answer_is_rendered_from_sentences_not_the_answer_text(page):
    """The shown answer comes from the checked `sentences` and `citations`: an absent or different
    `answer` text changes nothing, labels inside a sentence's text become chips, and a delta's
    `text` is not what is shown either."""
    answer, delta, _ = net_income_answer()
    label = f"[{NET_INCOME_SOURCE}:6]"
    second = {"text": f"It beat forecasts {label}.", "supported": True, "citations": [label], "reason": None}
    answer["sentences"] = [answer["sentences"][0], second, answer["sentences"][1]]
    del answer["answer"]
    route_ask(page, json_body=answer)
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    assert message.get_attribute("data-status") == "answered"
    answer_text = message.locator(".answer-text")
    assert text_without_chips(answer_text) == "Net income was ¥48.9 billion ($6.45 billion). It beat forecasts.", (
        answer_text.inner_text())
    assert label not in answer_text.inner_text()
    assert answer_text.locator("button.citation-chip").count() == 2
    assert UNSUPPORTED not in answer_text.inner_text()
    assert page.errors == []

    # streamed: the deltas' and the answer's `text` say something else; the sentences are shown
    page.unroute("**/v1/ask")
    answer, delta, _ = net_income_answer()
    answer["answer"] = "NOT THIS TEXT [bogus.txt:1]."
    delta = dict(delta, text="NOR THIS ONE [bogus.txt:2]. ")
    route_ask(page, sse_body=sse([("delta", delta), ("answer", answer)]))
    record_streamed_sentences(page)
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    streamed = page.evaluate("window.__streamed")
    assert len(streamed) == 1 and streamed[0]["chips"] == 1, streamed
    assert "NOR THIS ONE" not in streamed[0]["text"] and "Net income was" in streamed[0]["text"], streamed
    shown = message.locator(".answer-text")
    assert text_without_chips(shown) == "Net income was ¥48.9 billion ($6.45 billion).", shown.inner_text()
    body = message.inner_text()
    assert "NOT THIS TEXT" not in body and "bogus.txt" not in body, body
    chip = shown.locator("button.citation-chip")
    chip.click()
    page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
    assert page.locator("#source-panel .source-line.cited").evaluate_all("rows => rows.map(r => r.dataset.line)") == ["6"]
    assert page.locator("#source-panel mark.span").count() == 1
    assert page.errors == []


LONG_SENTENCE = ("Alibaba's fourth-quarter earnings further bolstered investor confidence, with revenue rising 8% "
                 "to ¥280.2 billion and net income hitting ¥48.9 billion ($6.45 billion).")


def chip_and_period_lines(page) -> list[dict]:
    """For each width of the answer box from 140 to 720 px: whether the chip wrapped below the
    sentence's first line, and whether the chip and its period share a line box."""
    return page.evaluate("""() => {
        const box = document.querySelector('.message.assistant[data-done="true"] .answer-text');
        const chip = box.querySelector('button.citation-chip');
        const end = box.querySelector('.sentence-end');
        const out = [];
        for (let w = 140; w <= 720; w += 6) {
            box.style.width = w + 'px';  // CSSOM, which the page's CSP allows
            const c = chip.getBoundingClientRect();
            const e = end.getBoundingClientRect();
            const first = box.getClientRects()[0];
            const r = document.createRange();
            r.selectNodeContents(box.querySelector('.sentence').firstChild);
            const textTop = r.getClientRects()[0].top;
            out.push({w, wrapped: c.top > textTop + 4,
                      sameLine: e.top < c.bottom && e.bottom > c.top && e.left >= c.right - 1,
                      after: end.previousElementSibling === chip});
        }
        box.style.width = '';
        return out;
    }""")


def test_wrapped_chip_keeps_its_period(page):
    """A chip that wraps to the next line takes the sentence's period with it: at every width the
    period sits right after the chip, on the chip's line."""
    answer, _, _ = net_income_answer()
    answer["sentences"] = [dict(answer["sentences"][0], text=LONG_SENTENCE)]
    route_ask(page, json_body=answer)
    page.set_viewport_size({"width": 360, "height": 800})
    ask(page, "What was Alibaba's net income in the fourth quarter?")
    lines = chip_and_period_lines(page)
    assert any(x["wrapped"] for x in lines), lines  # some widths did wrap the chip
    bad = [x for x in lines if not (x["sameLine"] and x["after"])]
    assert bad == [], bad
    # nothing after the chip group: the period is inside it, never a text node of its own
    assert page.locator(".answer-text .sentence").last.evaluate(
        "s => s.lastChild.nodeType === 1 && s.lastChild.matches('.cite-group')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chip-period-phone.png"))
    assert page.errors == []


def test_logo_is_a_plain_brand_mark(page):
    """The mark beside the name is not a control: no button or link, not focusable, hidden from
    assistive tech, no pointer cursor, not a menu-like glyph; the name is the page's heading."""
    logo = page.locator(".topbar .logo")
    assert logo.count() == 1
    assert logo.evaluate("n => n.tagName") == "SPAN"
    assert logo.get_attribute("aria-hidden") == "true"
    assert logo.get_attribute("tabindex") is None and logo.get_attribute("role") is None
    assert logo.evaluate("n => n.closest('button, a, [role], [tabindex], [onclick]') === null")
    assert logo.evaluate("n => getComputedStyle(n).cursor") != "pointer"
    assert page.locator(".brand").evaluate("n => getComputedStyle(n).cursor") != "pointer"
    assert logo.text_content().strip() not in {"≡", "☰", "⋮", "…"}
    assert page.get_by_role("heading", level=1, name="rag-lines").count() == 1
    assert page.locator(".topbar button, .topbar a, .topbar [role=button]").count() == 0
    # keyboard focus never lands on it
    page.locator("body").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("!document.activeElement.closest('.brand')")
    assert logo.evaluate("n => { n.focus(); return document.activeElement !== n; }")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".topbar").screenshot(path=str(ARTIFACTS / "brand.png"))
    assert page.errors == []


def test_rendered_answers_keep_to_the_content_security_policy(browser, fake_served):
    """An answer with chips, a dropped claim, the source panel and a status card, all rendered
    under the page's CSP without a violation (no inline script, no style attributes)."""
    page = offline_page(browser)
    try:
        page.add_init_script("""
            window.__violations = [];
            document.addEventListener('securitypolicyviolation',
                e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        """)
        response = page.goto(fake_served + "/", wait_until="domcontentloaded")
        assert "style-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector('#status[data-state="ready"]', timeout=30_000)
        answer, delta, _ = net_income_answer()
        route_ask(page, sse_body=sse([("delta", delta), ("answer", answer)]))
        message = ask(page, "What was Alibaba's net income in the fourth quarter?")
        message.locator("details.dropped summary").click()
        message.locator(".answer-text button.citation-chip").click()
        page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
        page.keyboard.press("Escape")
        page.unroute("**/v1/ask")
        route_ask(page, json_body=status_answer("unverified", "Some words."))
        ask(page, "How long does the Zorblax 9000 take to boil one litre of water?")
        page.fill("#question", "a\nb\nc")  # autoGrow sets the height through CSSOM
        assert page.evaluate("window.__violations") == []
        assert page.locator("[style]").evaluate_all("ns => ns.map(n => n.id || n.className)") in ([], ["question"])
        assert page.blocked == [] and page.errors == []
    finally:
        page.context.close()


def test_page_files_have_no_inline_code():
    """What the CSP would block, checked in the files themselves."""
    import re

    static = PROJECT_ROOT / "api" / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    script = (static / "app.js").read_text(encoding="utf-8")
    assert ".innerHTML" not in script and "insertAdjacentHTML" not in script
    assert not re.search(r"setAttribute\(\s*[\"']style", script) and "cssText" not in script
    assert "eval(" not in script and "new Function" not in script
