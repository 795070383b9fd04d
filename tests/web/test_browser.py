"""End to end in Debian's Chromium: the hosted login with the code read from a real SMTP sink,
cancel, prompt=none, the redirect_uri mismatch page, registering an app and revoking one.

The screenshots of these pages come from tests/web/test_every_page.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser import launch_chromium
from tests.conftest import SmtpSink, Stack, free_port
from tests.factories import identity as idf
from tests.factories import images as make
from tests.local_http import QuietHandler, serving

pytestmark = pytest.mark.browser

CALLBACK_PORT = free_port()
CALLBACK = f"http://localhost:{CALLBACK_PORT}/auth/callback"


class _Callback(QuietHandler):
    """The app's callback page: a real server (Playwright routes miss redirected requests)."""

    def do_GET(self) -> None:  # noqa: N802
        body = b"callback"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def callback_server() -> Iterator[None]:
    with serving(_Callback, "127.0.0.1", CALLBACK_PORT):
        yield


@pytest.fixture(scope="module")
def chromium(smtp_stack: Stack) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop marked running in this thread while it is
    # open: start the stack (migrations use asyncio.run) first, and close it with the module
    assert smtp_stack.base_url
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def context(chromium: Browser, callback_server: None) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport={"width": 1200, "height": 820}, color_scheme="light")
    ctx.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    yield ctx
    ctx.close()


def callback_query(page: Page) -> dict[str, str]:
    page.wait_for_url(re.compile(rf"^http://localhost:{CALLBACK_PORT}/auth/callback\?"))
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def connect_in_browser(
    page: Page, stack: Stack, sink: SmtpSink, app: idf.RegisteredApp, email: str, state: str
) -> dict[str, str]:
    page.goto(stack.base_url + idf.connect_url(app, state=state))
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue with img.pro").click()
    page.get_by_label("Sign-in code").fill(sink.code_for(email))
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_role("heading", name=f"Connect {app.name} to img.pro?").wait_for()
    assert email in page.content()
    page.get_by_role("button", name="Connect", exact=True).click()
    return callback_query(page)


def sign_in_in_browser(page: Page, stack: Stack, sink: SmtpSink, email: str) -> None:
    page.goto(stack.base_url + "/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue with img.pro").click()
    page.get_by_label("Sign-in code").fill(sink.code_for(email))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_full_connect_flow_then_prompt_none_and_revoke(
    context: BrowserContext, smtp_stack: Stack, smtp_sink: SmtpSink
) -> None:
    app = idf.register_app(smtp_stack, name="Pixel Notes", redirect_uris=[CALLBACK])
    email = idf.new_email()
    page = context.new_page()
    query = connect_in_browser(page, smtp_stack, smtp_sink, app, email, state="s-1")
    assert query["state"] == "s-1" and "error" not in query

    context_body = idf.exchange(smtp_stack, app.secret, {"code": query["code"]}).json()
    user_id = context_body["user"]["id"]
    assert context_body["user"]["email"] == email
    acting = idf.act_as(smtp_stack, app, user_id)
    assert acting.post("/v1/images", files={"file": ("a.png", make.png(32, 32))}).status_code == 201

    # prompt=none with a live session and an earlier consent: straight back with a code
    page.goto(smtp_stack.base_url + idf.connect_url(app, prompt="none", state="s-2"))
    silent = callback_query(page)
    assert silent["state"] == "s-2" and "code" in silent

    # the dashboard shows the connection; disconnect it there
    page.goto(smtp_stack.base_url + "/dashboard/connections")
    row = page.get_by_role("row", name=re.compile("Pixel Notes"))
    assert row.get_by_role("cell").nth(1).inner_text() == "1"
    row.get_by_role("button", name="Disconnect Pixel Notes").click()
    page.get_by_text("App disconnected").wait_for()
    assert page.get_by_role("row", name=re.compile("Pixel Notes")).count() == 0
    assert acting.get("/v1/images").json()["error"]["code"] == "user_forbidden"

    # and now prompt=none falls back
    page.goto(smtp_stack.base_url + idf.connect_url(app, prompt="none", state="s-3"))
    assert callback_query(page) == {"error": "interaction_required", "state": "s-3"}


def test_cancel_and_prompt_none_without_a_session(
    context: BrowserContext, smtp_stack: Stack
) -> None:
    app = idf.register_app(smtp_stack, name="Cancel Me", redirect_uris=[CALLBACK])
    page = context.new_page()
    page.goto(smtp_stack.base_url + idf.connect_url(app, prompt="none", state="n1"))
    assert callback_query(page) == {"error": "interaction_required", "state": "n1"}
    page.goto(smtp_stack.base_url + idf.connect_url(app, state="c1"))
    page.get_by_role("button", name="Cancel and return to Cancel Me").click()
    assert callback_query(page) == {"error": "access_denied", "state": "c1"}


def test_redirect_uri_mismatch_shows_an_error_page(
    context: BrowserContext, smtp_stack: Stack
) -> None:
    app = idf.register_app(smtp_stack, name="Strict", redirect_uris=[CALLBACK])
    page = context.new_page()
    url = smtp_stack.base_url + f"/connect?app={app.id}&redirect_uri={CALLBACK}/"
    response = page.goto(url)
    assert response is not None and response.status == 400
    page.get_by_role("heading", name="This sign-in link is not valid").wait_for()
    assert page.url.startswith(smtp_stack.base_url)


def test_register_an_app_secret_shown_once(
    context: BrowserContext, smtp_stack: Stack, smtp_sink: SmtpSink
) -> None:
    owner = smtp_stack.user("pro")
    page = context.new_page()
    sign_in_in_browser(page, smtp_stack, smtp_sink, owner.email)
    for name in ("harbour", "forest"):
        page.get_by_label("Image").set_input_files(
            files=[{"name": f"{name}.png", "mimeType": "image/png", "buffer": make.png(320, 240)}]
        )
        page.get_by_label("Caption").fill(name.capitalize())
        # the upload posts in the background, then loads the dashboard: wait for that load, as
        # the previous upload's "Image uploaded." is still on the page
        with page.expect_navigation():
            page.get_by_role("button", name="Upload").click()
        page.get_by_text("Image uploaded.").wait_for()

    page.get_by_role("link", name="Apps", exact=True).click()
    page.get_by_label("Name").fill("Pixel Notes")
    page.get_by_label("Redirect URIs").fill(CALLBACK + "\nhttps://pixelnotes.example/auth/callback")
    page.get_by_role("button", name="Register app").click()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"img_sk_live_[0-9A-Za-z]{32}", secret)
    page.get_by_role("link", name=re.compile("I stored it")).click()
    assert secret not in page.content()
    page.get_by_role("link", name="Apps", exact=True).click()
    assert secret not in page.content() and "Pixel Notes" in page.content()
    assert idf.exchange(smtp_stack, secret, {"code": "nope"}).json()["error"]["code"] == (
        "invalid_code"
    )
