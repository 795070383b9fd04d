"""The docs in Chromium: on a phone no page is wider than the screen, no page sends a request to
another origin, and a code block's Copy button puts its text on the clipboard."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from imgpro.docs.pages import PAGES
from tests.browser import launch_chromium
from tests.conftest import Stack, start_stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running, server = start_stack("docs-browser", tmp_path_factory.mktemp("docs-browser"))
    yield running
    running.close()
    server.stop()


@pytest.fixture(scope="module")
def chromium(docs_stack: Stack) -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_pages_fit_a_phone_and_request_nothing_elsewhere(
    chromium: Browser, docs_stack: Stack
) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ["/api", *(p.path for p in PAGES)]:
        page.goto(docs_stack.base_url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
        assert not page.locator(".docs-menu").evaluate("menu => menu.open")  # closed on phones
    own = {origin(docs_stack.settings.web_url), origin(docs_stack.settings.cdn_url)}
    assert requested and {origin(url) for url in requested} <= own
    context.close()


def test_copy_buttons_copy_the_code(chromium: Browser, docs_stack: Stack) -> None:
    context = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(docs_stack.base_url + "/api/quick-start")
    first = page.locator("pre").first
    first.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"curl -F file=@photo.jpg {docs_stack.settings.api_url}/v1/images\n"
    context.close()
