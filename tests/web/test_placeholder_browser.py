"""In Chromium: the viewer and the dashboard paint the image's placeholder while the image is
still loading, and drop it once the image is there."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.browser import launch_chromium
from tests.conftest import SmtpSink, Stack
from tests.factories import identity as idf
from tests.factories import images as make

pytestmark = pytest.mark.browser

BACKGROUND = "element => getComputedStyle(element).backgroundImage"


@pytest.fixture(scope="module")
def uploaded(smtp_stack: Stack) -> tuple[dict, str]:
    person = smtp_stack.user()
    client = smtp_stack.client(smtp_stack.key(person))
    response = client.post("/v1/images", files={"file": ("p.png", make.png(300, 200))})
    assert response.status_code == 201
    return response.json(), person.email


@pytest.fixture(scope="module")
def chromium(uploaded: tuple[dict, str]) -> Iterator[Browser]:
    with launch_chromium() as browser:  # after the stack: Playwright marks a loop running
        yield browser


def hold_images(page: Page) -> list[Route]:
    """Keep every CDN request waiting, as on a slow network, until the test lets it go."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/src/**", hold)
    return held


def release(page: Page, held: list[Route]) -> None:
    for route in held:
        route.continue_()
    page.unroute("**/src/**")


def test_the_viewer_shows_the_placeholder_until_the_image_loads(
    chromium: Browser, uploaded: tuple[dict, str]
) -> None:
    image, _email = uploaded
    page = chromium.new_page()
    held = hold_images(page)
    page.goto(image["page_url"], wait_until="domcontentloaded")
    picture = page.locator("figure img")
    assert picture.evaluate(BACKGROUND).startswith('url("data:image/png;base64,')
    assert picture.evaluate("element => element.complete") is False
    if shots := os.environ.get("IMGPRO_SCREENSHOTS"):
        page.screenshot(path=f"{shots}/viewer-placeholder.png")
    release(page, held)
    page.wait_for_function("() => document.querySelector('figure img').naturalWidth > 0")
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('figure img')).backgroundImage === 'none'"
    )
    page.close()


def test_the_dashboard_tiles_show_it_too(
    chromium: Browser, smtp_stack: Stack, smtp_sink: SmtpSink, uploaded: tuple[dict, str]
) -> None:
    _image, email = uploaded
    context = chromium.new_context()
    signed_in = smtp_stack.client()
    form = signed_in.get("/signin")
    token = idf.csrf_of(form.text)
    signed_in.post("/signin", data={"csrf_token": token, "email": email, "next": "/"})
    code = smtp_sink.code_for(email)
    done = signed_in.post("/signin/code", data={"csrf_token": token, "email": email, "code": code})
    assert done.status_code == 303
    context.add_cookies(
        [
            {"name": name, "value": value, "url": smtp_stack.base_url}
            for name, value in signed_in.cookies.items()
        ]
    )
    page = context.new_page()
    held = hold_images(page)
    page.goto(smtp_stack.base_url + "/dashboard", wait_until="domcontentloaded")
    tile = page.locator(".tile img").first
    assert tile.evaluate(BACKGROUND).startswith('url("data:image/png;base64,')
    release(page, held)
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.tile img')).backgroundImage === 'none'"
    )
    context.close()
