"""A citation into a PDF, in a real headless Chromium: the side panel shows the cited page as an
image with a box over each cited line, above the page's lines.

The corpus is the seed articles printed to PDF (`pdf_corpus.seed_pdfs`). Two servers:
`fake_pdf_served`, the app in this process (hashing embedder, fake LLM, an API key required) over
those PDFs and one plain-text seed; its tests answer `/v1/ask` in the browser with a citation
built from the real `/v1/sources` lines, so they need no model and check that the page image is
fetched with the key and the boxes sit where `/v1/sources` says the lines are. `pdf_server`
(integration): a real `rag serve` (real embedder and local model) over the PDFs; one model call.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from chromium import ARTIFACTS, ask, launched, require_chromium
from server_process import fake_app_served, running_server
from rag.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

API_KEY = "pdf-browser-test-key"
NET_INCOME_PDF = "002_9fd4f84746180eec.pdf"
TEXT_SOURCE = "plain-notes.txt"
TOLERANCE_PX = 3

require_chromium()


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory) -> Path:
    """The seed articles as PDFs, one per seed."""
    from pdf_corpus import seed_pdfs

    out = tmp_path_factory.mktemp("pdf-seeds")
    pdfs = seed_pdfs(PROJECT_ROOT / "seeds", out)
    assert (out / NET_INCOME_PDF) in pdfs, pdfs
    return out


@pytest.fixture(scope="module")
def browser(pdf_dir):
    # after pdf_dir: seed_pdfs prints with a sync Playwright of its own, which cannot run inside this one
    with launched() as browser:
        yield browser


@pytest.fixture(scope="module")
def fake_pdf_served(tmp_path_factory, pdf_dir):
    """The app served in this process over the seed PDFs and one text file: hashing embedder, fake
    LLM, and an API key required (so the page image must be fetched with it)."""
    corpus = tmp_path_factory.mktemp("pdf-fake-corpus")
    for pdf in sorted(pdf_dir.glob("*.pdf")):
        shutil.copy2(pdf, corpus / pdf.name)
    shutil.copy2(PROJECT_ROOT / "seeds" / "002_9fd4f84746180eec.txt", corpus / TEXT_SOURCE)
    with fake_app_served(corpus, tmp_path_factory.mktemp("pdf-fake-index"), api_keys=[API_KEY]) as url:
        yield url


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory, pdf_dir):
    """A real `rag serve` (real embedder and model) over the seed PDFs only, no API key."""
    index_dir = tmp_path_factory.mktemp("pdf-index")
    with running_server(pdf_dir, index_dir, {"RAG_API_KEYS": None}) as server:
        yield server


WATCH_PAGE = """
    window.__violations = [];
    document.addEventListener('securitypolicyviolation',
        e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
    window.__created = []; window.__revoked = [];
    const create = URL.createObjectURL.bind(URL), revoke = URL.revokeObjectURL.bind(URL);
    URL.createObjectURL = (b) => { const u = create(b); window.__created.push(u); return u; };
    URL.revokeObjectURL = (u) => { window.__revoked.push(u); return revoke(u); };
"""


def open_page(browser, url: str, *, key: str | None = None, viewport: dict | None = None, scale: float = 1):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, device_scale_factor=scale)
    if key:
        context.add_init_script(f"localStorage.setItem('rag_api_key', {json.dumps(key)});")
    context.add_init_script(WATCH_PAGE)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.page_requests = []  # (url, authorization header) of every /v1/pages request
    page.on("request", lambda r: page.page_requests.append((r.url, r.headers.get("authorization")))
            if "/v1/pages/" in r.url else None)
    page.goto(url + "/", wait_until="domcontentloaded")
    page.wait_for_selector('#status[data-state="ready"]', timeout=30_000)
    return page


@pytest.fixture
def key_page(browser, fake_pdf_served):
    page = open_page(browser, fake_pdf_served, key=API_KEY)
    yield page
    page.context.close()


def route_ask(page, answer: dict) -> None:
    page.route("**/v1/ask", lambda route: route.fulfill(
        status=200, body=json.dumps(answer, ensure_ascii=False), headers={"Content-Type": "application/json"}))


def get_json(url: str, key: str | None = None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(url, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def page_lines(base: str, source: str, page: int, key: str | None = None) -> dict:
    """All the lines of one page of a PDF, with their boxes, from /v1/sources."""
    return get_json(f"{base}/v1/sources/{source}?page={page}", key)


def find_line(base: str, source: str, words: str, key: str | None = None) -> tuple[int, int, dict]:
    """(page, line, that page's /v1/sources answer) of the first line of `source` containing `words`."""
    first = page_lines(base, source, 1, key)
    for number in range(1, first["pages"] + 1):
        found = first if number == 1 else page_lines(base, source, number, key)
        for i, text in enumerate(found["lines"]):
            if words in text:
                return number, found["start_line"] + i, found
    raise AssertionError(f"no line of {source} contains {words!r}")


def pdf_answer(source: str, page: int, line: int, text: str, words: str) -> dict:
    """An answer whose one sentence cites `line` of `page`, with a span on `words`."""
    start = text.index(words)
    label = f"[{source}:p{page}:{line}]"
    citation = {"source": source, "start_line": line, "end_line": line, "page": page, "quote": text,
                "verified": True, "repaired": False, "support": 0.93,
                "spans": [{"line": line, "start_char": start, "end_char": start + len(words)}]}
    sentence = {"text": "Net income was ¥48.9 billion ($6.45 billion).", "supported": True,
                "citations": [label], "reason": None}
    return {"answer": f"Net income was ¥48.9 billion ($6.45 billion) {label}.", "answerable": True,
            "status": "answered", "citations": [citation], "sentences": [sentence],
            "passages": [{"source": source, "start_line": line, "end_line": line, "page": page, "text": text,
                          "score": 0.8}],
            "model": "fake/model", "timings_ms": {"total": 30}}


# ------------------------------------------------------------------------- geometry checks


def page_view_geometry(page) -> dict:
    """The shown image's box and natural size, and each highlight's box and line."""
    return page.evaluate("""() => {
        const img = document.querySelector('#source-page .page-view img');
        const r = img.getBoundingClientRect();
        const view = document.querySelector('#source-page .page-view');
        return {
            image: {left: r.left, top: r.top, width: r.width, height: r.height,
                    naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, src: img.src},
            page: view.dataset.page,
            dpr: window.devicePixelRatio,
            highlights: [...document.querySelectorAll('#source-page .page-view .page-highlight')].map(h => {
                const b = h.getBoundingClientRect();
                return {line: Number(h.dataset.line), left: b.left, top: b.top, right: b.right, bottom: b.bottom};
            }),
        };
    }""")


def expected_rect(image: dict, page_width: float, box: list[float]) -> dict:
    """Where a line's box [x0, top, x1, bottom] (page points) lies on the shown image."""
    scale = image["width"] / page_width
    return {"left": image["left"] + box[0] * scale, "top": image["top"] + box[1] * scale,
            "right": image["left"] + box[2] * scale, "bottom": image["top"] + box[3] * scale}


def assert_highlight_over_line(geometry: dict, found: dict, line: int) -> None:
    """The highlight for `line` lies over that line's box, as /v1/sources gives it (`found`: the
    page's lines from line found["start_line"] on, with their boxes)."""
    highlights = {h["line"]: h for h in geometry["highlights"]}
    assert line in highlights, geometry["highlights"]
    box = found["boxes"][line - found["start_line"]]
    want = expected_rect(geometry["image"], found["page_width"], box)
    got = highlights[line]
    off = {k: round(got[k] - want[k], 2) for k in want}
    assert all(abs(v) <= TOLERANCE_PX for v in off.values()), (got, want, off)
    # the image shows the whole page at its aspect ratio
    image = geometry["image"]
    assert abs(image["height"] - image["width"] * found["page_height"] / found["page_width"]) <= 2, image


def wait_for_page_image(page) -> None:
    page.wait_for_selector('#source-page[data-loaded="true"]', timeout=30_000)
    page.wait_for_function("document.querySelector('#source-page img').naturalWidth > 0", timeout=10_000)


def highlight_in_view(page, line: int) -> bool:
    """The highlight for `line` lies inside the visible part of the panel's scroll box."""
    return page.evaluate("""(line) => {
        const h = document.querySelector(`#source-page .page-highlight[data-line="${line}"]`);
        const body = document.querySelector('#source-body').getBoundingClientRect();
        const b = h.getBoundingClientRect();
        return b.top >= body.top - 1 && b.bottom <= body.bottom + 1 && b.left >= body.left - 1 && b.right <= body.right + 1;
    }""", line)


# --------------------------------------------------------------- fixed answers, no model


def test_pdf_citation_shows_the_page_with_the_line_boxed(key_page, fake_pdf_served):
    page = key_page
    base = fake_pdf_served
    words = "net income hitting"
    page_no, line, found = find_line(base, NET_INCOME_PDF, words, API_KEY)
    text = found["lines"][line - found["start_line"]]
    route_ask(page, pdf_answer(NET_INCOME_PDF, page_no, line, text, words))
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    chip = message.locator(".answer-text button.citation-chip")
    assert chip.get_attribute("data-page") == str(page_no)
    chip.click()
    page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
    wait_for_page_image(page)

    geometry = page_view_geometry(page)
    image = geometry["image"]
    assert image["naturalWidth"] > 0 and image["src"].startswith("blob:"), image
    assert geometry["page"] == str(page_no)
    # one box, for the cited line, over where /v1/sources says that line is
    assert [h["line"] for h in geometry["highlights"]] == [line]
    assert_highlight_over_line(geometry, found, line)
    assert words in page.locator(f'#source-panel .source-line[data-line="{line}"] .line-text').inner_text()
    assert highlight_in_view(page, line)

    # the image was fetched with the API key, as wide as it is shown (device pixels), and is that wide
    assert len(page.page_requests) == 1, page.page_requests
    url, auth = page.page_requests[0]
    assert auth == f"Bearer {API_KEY}"
    query = parse_qs(urlparse(url).query)
    assert query["page"] == [str(page_no)]
    asked = int(query["width"][0])
    assert abs(asked - round(image["width"] * geometry["dpr"])) <= 1, (asked, image)
    assert image["naturalWidth"] == asked

    # the lines are still there below the page, the cited one marked as before
    assert page.locator("#source-panel .source-line.cited").evaluate_all(
        "rows => rows.map(r => r.dataset.line)") == [str(line)]
    assert page.locator("#source-panel mark.span").all_text_contents() == [words]
    assert page.evaluate(
        "document.querySelector('#source-page').compareDocumentPosition(document.querySelector('#source-lines'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING")
    page.wait_for_timeout(250)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pdf-citation-fixed.png"))

    # nothing outside the page's CSP, and no style attribute in the panel: the boxes are SVG geometry
    assert page.evaluate("window.__violations") == []
    assert page.locator("#source-panel [style]").count() == 0

    # closing the panel frees the image's object URL; a text source shows no page
    created = page.evaluate("window.__created")
    assert created == [image["src"]]
    page.keyboard.press("Escape")
    page.wait_for_selector("#source-panel", state="hidden")
    assert page.evaluate("window.__revoked") == created
    assert page.locator("#source-page img").count() == 0

    chip.click()
    wait_for_page_image(page)
    second = page.evaluate("document.querySelector('#source-page img').src")
    assert second != image["src"]
    page.unroute("**/v1/ask")
    text_line = 6
    text_answer = pdf_answer(NET_INCOME_PDF, page_no, line, text, words)
    text_answer["citations"][0].update(source=TEXT_SOURCE, page=None, start_line=text_line, end_line=text_line,
                                       spans=[])
    text_answer["sentences"][0]["citations"] = [f"[{TEXT_SOURCE}:{text_line}]"]
    text_answer["passages"] = []
    route_ask(page, text_answer)
    message = ask(page, "And as plain text?")
    message.locator(".answer-text button.citation-chip").click()
    page.wait_for_selector(f'#source-panel[data-loaded="true"][data-source="{TEXT_SOURCE}"]', timeout=30_000)
    assert page.locator("#source-page").is_hidden()
    assert page.locator("#source-panel img, #source-panel .page-highlight").count() == 0
    assert second in page.evaluate("window.__revoked")  # the PDF page's URL, freed when the panel changed
    assert page.locator("#source-panel .source-line.cited").evaluate_all(
        "rows => rows.map(r => r.dataset.line)") == [str(text_line)]
    assert len(page.page_requests) == 2  # no page image asked for the text source
    assert page.evaluate("window.__violations") == []
    assert page.errors == []


def test_page_image_error_keeps_the_lines(key_page, fake_pdf_served):
    """The page image refused (409: the PDF changed since it was indexed): the figure says why and
    the page's lines are still shown, the cited one marked."""
    page = key_page
    words = "net income hitting"
    page_no, line, found = find_line(fake_pdf_served, NET_INCOME_PDF, words, API_KEY)
    text = found["lines"][line - found["start_line"]]
    detail = f"{NET_INCOME_PDF} changed since it was indexed; index it again"
    page.route("**/v1/pages/**", lambda route: route.fulfill(
        status=409, body=json.dumps({"detail": detail}), headers={"Content-Type": "application/json"}))
    route_ask(page, pdf_answer(NET_INCOME_PDF, page_no, line, text, words))
    message = ask(page, "What was Alibaba's net income in the fourth quarter?")
    message.locator(".answer-text button.citation-chip").click()
    page.wait_for_selector('#source-page[data-loaded="error"]', timeout=30_000)
    figure = page.locator("#source-page")
    assert detail in figure.inner_text()
    assert figure.locator("img").count() == 0
    cited = page.locator("#source-panel .source-line.cited")
    assert cited.evaluate_all("rows => rows.map(r => r.dataset.line)") == [str(line)]
    assert words in cited.first.inner_text()
    assert page.evaluate("window.__created") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pdf-page-error.png"))
    assert page.errors == []


def test_pdf_page_on_a_phone(browser, fake_pdf_served):
    """390 px wide, 3 device pixels per CSS pixel: the page fits the sheet, the image is asked for
    in device pixels, the box is over its line and scrolled into view, nothing scrolls sideways."""
    page = open_page(browser, fake_pdf_served, key=API_KEY, viewport={"width": 390, "height": 844}, scale=3)
    try:
        words = "net income hitting"
        page_no, line, found = find_line(fake_pdf_served, NET_INCOME_PDF, words, API_KEY)
        text = found["lines"][line - found["start_line"]]
        route_ask(page, pdf_answer(NET_INCOME_PDF, page_no, line, text, words))
        message = ask(page, "What was Alibaba's net income in the fourth quarter?")
        message.locator(".answer-text button.citation-chip").click()
        wait_for_page_image(page)
        page.wait_for_timeout(300)  # the sheet's slide-in
        geometry = page_view_geometry(page)
        image = geometry["image"]
        assert geometry["dpr"] == 3
        assert image["width"] <= 390 and image["naturalWidth"] == min(2000, round(image["width"] * 3)), image
        assert_highlight_over_line(geometry, found, line)
        assert highlight_in_view(page, line)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        assert page.evaluate("(() => { const b = document.querySelector('#source-body');"
                             " return b.scrollWidth <= b.clientWidth + 1; })()")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "pdf-citation-phone.png"))
        assert page.errors == []
    finally:
        page.context.close()


# ------------------------------------------------------------------------ the real model

# A question the local model answers the same way on every run over these PDFs (temperature 0, the
# same index): both runs of tests/format_parity.py --answers --formats pdf answered it, cited to
# 002 p1:22-25. (The net-income question is answered with "rose 48.9 billion yuan in Q4 2024"
# over the PDFs, which the check rightly refuses.)
QUESTION = "Which Chinese AI start-ups has Alibaba invested in?"
CITED_WORDS = ("Moonshot", "Zhipu")
STARTUPS = re.compile("Moonshot|Zhipu")


@pytest.mark.integration
def test_model_answer_cites_a_pdf_page_with_the_line_boxed(browser, pdf_server):
    base = pdf_server.url
    page = open_page(browser, base)
    try:
        message = ask(page, QUESTION)
        shown = message.inner_text()
        assert message.get_attribute("data-status") == "answered", shown
        assert STARTUPS.search(shown), shown
        chips = message.locator('.answer-text button.citation-chip[data-source$=".pdf"][data-page]')
        assert chips.count() > 0, shown
        # the chip of the sentence that names the start-ups
        sentence = message.locator(".answer-text .sentence", has_text=STARTUPS).first
        chip = sentence.locator("button.citation-chip").first
        source = chip.get_attribute("data-source")
        page_no = int(chip.get_attribute("data-page"))
        start, end = int(chip.get_attribute("data-start")), int(chip.get_attribute("data-end"))
        assert source == NET_INCOME_PDF, (source, shown)
        chip.click()
        page.wait_for_selector('#source-panel[data-loaded="true"]', timeout=30_000)
        wait_for_page_image(page)

        found = page_lines(base, source, page_no)
        geometry = page_view_geometry(page)
        assert geometry["image"]["naturalWidth"] > 0, geometry
        assert geometry["page"] == str(page_no)
        assert [h["line"] for h in geometry["highlights"]] == [
            n for n in range(start, end + 1) if found["boxes"][n - found["start_line"]]]
        # the cited line that holds the cited figure: its box is boxed on the image
        texts = {n: found["lines"][n - found["start_line"]] for n in range(start, end + 1)}
        holding = [n for n, t in texts.items() if any(w in t for w in CITED_WORDS)]
        assert holding, (texts, shown)
        for n in holding:
            assert_highlight_over_line(geometry, found, n)
        # the highlighted lines' text has words of the cited sentence
        boxed = " ".join(texts[h["line"]] for h in geometry["highlights"])
        stated = sentence.inner_text()
        assert any(w in boxed and w in stated for w in CITED_WORDS), (boxed, stated)
        assert highlight_in_view(page, holding[0])
        page.wait_for_timeout(300)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "pdf-citation.png"))
        assert page.errors == []
        assert page.evaluate("window.__violations") == []
    finally:
        page.context.close()
