"""In Debian's Chromium: an app's user opens manage_url, signs in, upgrades through the local
test checkout, and billing/status shows the new plan.

Set IMGPRO_SCREENSHOTS=docs/screenshots to (re)write the billing screenshots."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.billing.helpers import personal_workspace_id, set_usage
from tests.browser import launch_chromium
from tests.conftest import Stack
from tests.factories import identity as idf

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("IMGPRO_SCREENSHOTS")
T = TypeVar("T")


def off_thread(work: Callable[[], T]) -> T:
    """Arrange through the services from a thread of its own: Playwright's sync API keeps an
    event loop running in this one, and the arrangements use asyncio.run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.fixture(scope="module")
def chromium(stack: Stack) -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


def shot(stack: Stack, page: Page, name: str) -> None:
    if SHOTS and stack.name == "sqlite":
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_an_app_user_upgrades_through_the_local_checkout(stack: Stack, chromium: Browser) -> None:
    app = off_thread(lambda: idf.register_app(stack))
    email = "ana@example.org" if SHOTS and stack.name == "sqlite" else idf.new_email()
    user_id = off_thread(lambda: idf.connected_user(stack, app, email))
    api = idf.act_as(stack, app, user_id)
    manage_url = api.get("/v1/billing/status").json()["manage_url"]
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    context.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    page = context.new_page()
    try:
        page.goto(manage_url)
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Continue with img.pro").click()
        page.get_by_label("Sign-in code").fill(off_thread(lambda: idf.outbox_code(stack, email)))
        page.get_by_role("button", name="Sign in").click()

        card = page.locator("section.billing-ws.focus")
        expect(card.get_by_role("heading", name="Pixel Notes")).to_be_visible()
        expect(card.locator(".plan-pill")).to_have_text("Free")
        expect(page.locator("section.billing-ws")).to_have_count(2)  # personal + this app
        card.get_by_text("Scale", exact=True).click()
        card.get_by_label("Annually").check()
        shot(stack, page, "billing")
        card.get_by_role("button", name="Continue to checkout").click()

        expect(page.get_by_role("note")).to_contain_text("Test checkout — no payment")
        expect(page.get_by_role("heading", name="Scale plan")).to_be_visible()
        shot(stack, page, "billing-test-checkout")
        page.get_by_role("button", name="Pay $290 (test)").click()

        card = page.locator("section.billing-ws.focus")
        expect(card.locator(".plan-pill")).to_have_text("Scale · annual")
        expect(card.get_by_role("button", name="Cancel Scale for Pixel Notes")).to_be_visible()
        shot(stack, page, "billing-upgraded")
        status = api.get("/v1/billing/status").json()
        assert status["plan"] == "scale"
        assert status["usage"]["limits"]["monthly_uploads"]["limit"] == 10_000

        page.set_viewport_size({"width": 390, "height": 844})
        shot(stack, page, "billing-mobile")
    finally:
        context.close()


def test_the_quota_upgrade_link_lands_on_the_plan_in_the_browser(
    stack: Stack, chromium: Browser
) -> None:
    person = off_thread(lambda: stack.user())
    key = off_thread(lambda: stack.key(person))
    workspace_id = off_thread(lambda: personal_workspace_id(stack, person))
    off_thread(lambda: set_usage(stack, workspace_id, uploads=100, storage_bytes=300 * 1024**2))
    refused = stack.client(key).post("/v1/images", files={"file": ("a.png", b"\x89PNG")})
    assert refused.status_code == 403
    link = refused.json()["error"]["action"]["url"]
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    page = context.new_page()
    try:
        page.goto(link)
        page.get_by_label("Email").fill(person.email)
        page.get_by_role("button", name="Continue with img.pro").click()
        page.get_by_label("Sign-in code").fill(
            off_thread(lambda: idf.outbox_code(stack, person.email))
        )
        page.get_by_role("button", name="Sign in").click()
        card = page.locator("section.billing-ws.focus")
        expect(card.get_by_role("heading", name="Personal workspace")).to_be_visible()
        expect(card.get_by_role("radio", name="Pro")).to_be_checked()
        expect(card.locator(".meter.full")).to_have_count(1)
        shot(stack, page, "billing-quota")
    finally:
        context.close()
