"""Headless Chromium for the tests: where it is, how it is started, and the skip when it is missing
(outside CI; in CI a missing browser or playwright must fail, not skip)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.settings import PROJECT_ROOT

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
MISSING = "/usr/bin/chromium is not installed (apt-get install -y chromium; scripts/test.sh does this)"


def require_chromium():
    """Skip the calling test module when Chromium is missing outside CI; return sync_playwright."""
    if not CHROMIUM.is_file() and not os.environ.get("CI"):
        pytest.skip(MISSING, allow_module_level=True)
    if os.environ.get("CI"):
        from playwright.sync_api import sync_playwright

        return sync_playwright
    return pytest.importorskip("playwright.sync_api").sync_playwright


@contextmanager
def launched() -> Iterator[object]:
    """A headless Chromium browser (playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


ANSWER_TIMEOUT_MS = 180_000
DONE = '.message.assistant[data-done="true"]'


def ask(page, question: str):
    """Ask on the chat page and return this question's reply once it is done. An earlier reply is
    already done, so the wait is for one more (`.last` alone could be the earlier one)."""
    done_before = page.locator(DONE).count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_function("([selector, count]) => document.querySelectorAll(selector).length > count",
                           arg=[DONE, done_before], timeout=ANSWER_TIMEOUT_MS)
    return page.locator(DONE).nth(done_before)
