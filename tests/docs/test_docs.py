"""The docs as a reader (and an LLM) meets them: every page answers, every internal link and
anchor resolves, nothing loads from another origin, and /llms-full.txt covers the whole API."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest

import imgpro_sdk
from imgpro.cdn.pool import PoolBusy
from imgpro.docs.pages import PAGES, PLACEHOLDER_APP
from imgpro.errors import CATALOGUE
from imgpro.media.transform import PARAMETERS
from imgpro.web import brand
from tests.conftest import Stack, start_stack
from tests.images.test_ingest_in_render_process import every_render_raises

DOC_PATHS = ["/api", "/api/search?q=prompt+none", *(page.path for page in PAGES)]


class Links(HTMLParser):
    """Every URL a page points at (href, src, srcset, action) and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in ("href", "src", "action"):
                self.urls.append(value)
            elif name == "srcset":
                self.urls += [part.split()[0] for part in value.split(",") if part.strip()]
            elif name == "style":
                self.urls += re.findall(r"url\(['\"]?([^'\")]+)", value)


def parsed(html: str) -> Links:
    links = Links()
    links.feed(html)
    links.urls += re.findall(
        r"url\(['\"]?([^'\")]+)", "".join(re.findall(r"<style>(.*?)</style>", html, re.S))
    )
    return links


@pytest.fixture(scope="module")
def pages(stack: Stack) -> dict[str, httpx.Response]:
    client = stack.client()
    return {path: client.get(path) for path in DOC_PATHS}


def test_every_page_answers(pages: dict[str, httpx.Response]) -> None:
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1" in response.text and 'name="viewport"' in response.text


def test_no_page_refers_to_another_origin(stack: Stack, pages: dict[str, httpx.Response]) -> None:
    settings = stack.settings
    own = {
        f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        for url in (settings.web_url, settings.api_url, settings.cdn_url)
    }
    for path, response in pages.items():
        for url in parsed(response.text).urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:
                assert f"{parts.scheme}://{parts.netloc}" in own, f"{path} refers to {url}"


def test_every_internal_link_and_anchor_resolves(
    stack: Stack, pages: dict[str, httpx.Response]
) -> None:
    client = stack.client()
    seen: dict[str, httpx.Response] = {}
    for path, response in pages.items():
        here = stack.base_url + path
        for url in parsed(response.text).urls:
            if PLACEHOLDER_APP in url:
                continue  # the button snippets' template link: the reader puts their app id in
            target, anchor = urldefrag(urljoin(here, url))
            if target not in seen:
                seen[target] = client.get(target, follow_redirects=True)
            assert seen[target].status_code == 200, f"{path} links to {url}"
            if anchor:
                assert anchor in parsed(seen[target].text).ids, f"{path}: no #{anchor} at {url}"


def test_an_unknown_docs_page_is_404(stack: Stack) -> None:
    assert stack.client().get("/api/nothing-here").status_code == 404


def test_examples_use_this_instances_addresses(
    pages: dict[str, httpx.Response], stack: Stack
) -> None:
    quick = pages["/api/quick-start"].text
    assert f"curl -F file=@photo.jpg {stack.settings.api_url}/v1/images" in quick
    assert "img.pro/v1" not in quick and "api.img.pro" not in quick
    reference = pages["/api/reference"].text
    assert f"curl -X GET '{stack.settings.api_url}/v1/usage'" in reference
    assert "src.img.pro" not in reference and "api.img.pro" not in reference


def test_transform_examples_are_rendered_by_this_instance(
    stack: Stack, pages: dict[str, httpx.Response]
) -> None:
    images = re.findall(r'<img src="([^"]+)"', pages["/api/transforms"].text)
    assert len(images) >= 6
    for src in images:
        assert src.startswith(stack.settings.cdn_url + "/")
        answer = httpx.get(src.replace("&amp;", "&"))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")


def test_the_app_page_has_every_button_variant_with_a_copy_button(
    pages: dict[str, httpx.Response],
) -> None:
    html = pages["/api/app"].text
    for variant in brand.VARIANTS:
        assert f'data-variant="{variant}"' in html
    assert 'aria-label="Continue with img.pro"' in html and "YOUR_STATE" in html
    assert "/static/copy.js" in html  # adds the copy buttons


def test_search_finds_sections(pages: dict[str, httpx.Response]) -> None:
    html = pages["/api/search?q=prompt+none"].text
    assert "/api/app#hosted-sign-in-connect" in html


def test_llms_txt_follows_the_convention(stack: Stack) -> None:
    response = stack.client().get("/llms.txt")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    lines = response.text.splitlines()
    assert lines[0] == "# imgpro" and lines[2].startswith("> ")
    assert "## Docs" in lines and f"{stack.settings.web_url}/llms-full.txt" in response.text
    for page in PAGES:
        assert f"({stack.settings.web_url}{page.path})" in response.text


def test_llms_full_covers_every_path_error_code_and_transform_parameter(stack: Stack) -> None:
    client = stack.client()
    full = client.get("/llms-full.txt")
    assert full.headers["content-type"] == "text/plain; charset=utf-8"
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method in item:
            assert f"### {method.upper()} {path}\n" in full.text, (method, path)
    for code in CATALOGUE:
        assert f"`{code}`" in full.text, code
    for parameter in PARAMETERS:
        assert f"`{parameter}`" in full.text, parameter
    for page in PAGES:
        assert f"\n# {page.title}\n" in full.text


def test_the_sdk_and_the_server_make_the_same_button() -> None:
    url = "http://127.0.0.1:8000/connect?app=a8o46yrk&redirect_uri=x&state=YOUR_STATE"
    for variant in brand.VARIANTS:
        assert imgpro_sdk.button(url, variant) == brand.button(url, variant)


def test_the_first_docs_view_while_every_renderer_is_busy_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample is drawn in a render process on first view: a busy pool is a moment's wait."""
    running, server = start_stack("busy-docs", tmp_path)  # no sample drawn yet
    try:
        every_render_raises(monkeypatch, PoolBusy(retry_after=2))
        response = httpx.get(f"{running.base_url}/llms-full.txt")
        assert response.status_code == 503
        assert response.headers["Retry-After"]
    finally:
        running.close()
        server.stop()
