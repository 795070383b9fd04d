"""The example app, end to end in Chromium: the official button → img.pro sign-in with the code
from a real SMTP sink → consent → gallery → an upload that shows → upgrade through the test
checkout → the new plan; then prompt=none on a return visit, and a revoked user handled as
"disconnected — sign in again".

Set IMGPRO_SCREENSHOTS=docs/screenshots to (re)write the example app's screenshots."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.photo_app.app import Config, create_app
from playwright.sync_api import Browser, Page

from imgpro.accounts import service as accounts
from imgpro.apps import service as apps
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from imgpro_sdk import AsyncImgPro
from tests.browser import launch_chromium
from tests.conftest import ServerThread, SmtpSink, Stack, free_port
from tests.factories import identity as idf
from tests.factories import images as make

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("IMGPRO_SCREENSHOTS")


class PhotoApp:
    def __init__(self, stack: Stack) -> None:
        port = free_port()
        self.url = f"http://localhost:{port}"
        self.registered = idf.register_app(
            stack, name="Photo App", redirect_uris=[f"{self.url}/callback"]
        )
        client = AsyncImgPro(
            secret=self.registered.secret,
            app_id=self.registered.id,
            api_url=stack.settings.api_url,
            web_url=stack.settings.web_url,
        )
        # served with imgpro's server configuration (header limits), like every test server
        self.server = ServerThread(
            create_app(Config(self.url, "test-session-key"), client), Settings(env="test"), port
        )


@pytest.fixture(scope="module")
def photo_app(smtp_stack: Stack) -> Iterator[PhotoApp]:
    app = PhotoApp(smtp_stack)
    app.server.start_and_wait()
    yield app
    app.server.stop()


@pytest.fixture(scope="module")
def chromium(photo_app: PhotoApp) -> Iterator[Browser]:
    # start the servers (asyncio.run inside) before Playwright's loop runs in this thread
    with launch_chromium() as browser:
        yield browser


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        for width, height, tag in ((1280, 800, "desktop"), (390, 844, "phone")):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(Path(SHOTS) / f"photo-app-{name}-{tag}.png"), full_page=True)
        page.set_viewport_size({"width": 1200, "height": 820})


def revoke(stack: Stack, email: str, app_id: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.find_user_by_email(db, email)
            assert user is not None
            assert await apps.revoke(db, user, app_id)

    stack.run(work)


def test_sign_in_upload_upgrade_return_and_disconnect(
    chromium: Browser, photo_app: PhotoApp, smtp_stack: Stack, smtp_sink: SmtpSink
) -> None:
    context = chromium.new_context(viewport={"width": 1200, "height": 820}, color_scheme="light")
    page = context.new_page()
    email = "ana@example.org" if SHOTS else idf.new_email()

    page.goto(photo_app.url)
    shot(page, "home")
    page.get_by_role("link", name="Continue with img.pro").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue with img.pro").click()
    page.get_by_label("Sign-in code").fill(smtp_sink.code_for(email))
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_role("heading", name="Connect Photo App to img.pro?").wait_for()
    page.get_by_role("button", name="Connect", exact=True).click()

    page.wait_for_url(f"{photo_app.url}/gallery")
    assert page.get_by_text("Photo App × img.pro").is_visible()
    assert page.get_by_text(f"Connected as {email}").is_visible()
    assert page.get_by_text("Account & images secured by img.pro").is_visible()
    assert page.locator("#plan").inner_text() == "Free"

    page.locator("input[name=photo]").set_input_files(
        files=[{"name": "boats.png", "mimeType": "image/png", "buffer": make.png(320, 240)}]
    )
    page.get_by_label("Caption").fill("Boats at dawn")
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("status").filter(has_text="Uploaded.").wait_for()
    photo = page.get_by_role("img", name="Boats at dawn")
    photo.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    assert photo.get_attribute("src", timeout=1000).startswith(smtp_stack.settings.cdn_url)  # type: ignore[union-attr]
    shot(page, "gallery")

    page.get_by_label("Upgrade to").select_option("pro")
    page.get_by_role("button", name="Upgrade").click()
    page.wait_for_url(re.compile(re.escape(smtp_stack.settings.web_url) + r"/billing/checkout/"))
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url(f"{photo_app.url}/gallery")
    assert page.locator("#plan").inner_text() == "Pro"
    assert page.get_by_role("link", name="Manage your plan on img.pro").is_visible()

    # a return visit: this app's session is gone, img.pro's is not → prompt=none, no screen
    context.clear_cookies(name="photo_app_session")
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(photo_app.url)
    page.wait_for_url(f"{photo_app.url}/gallery")
    assert any("prompt=none" in url for url in seen)
    assert not any("/connect/" in url for url in seen)  # no email, code or consent step
    assert page.get_by_role("img", name="Boats at dawn").is_visible()

    # the user disconnects the app on img.pro: the app treats them as signed out
    revoke(smtp_stack, email, photo_app.registered.id)
    page.reload()
    page.wait_for_url(f"{photo_app.url}/")
    page.get_by_role("status").filter(has_text="disconnected from img.pro").wait_for()
    assert page.get_by_role("link", name="Continue with img.pro").is_visible()
    context.close()
