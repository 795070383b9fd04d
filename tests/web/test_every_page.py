"""Every page, as each kind of visitor (signed out, signed in, owner of an app, user of an app),
at 1280×800 and 390×844 in Debian's Chromium: no horizontal scrolling, no console error, no
failed request, no serious or critical axe-core violation (axe-core ships inside
axe-playwright-python: nothing is loaded from another origin).

Set IMGPRO_SCREENSHOTS=docs/screenshots to (re)write the README's screenshots of every page."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page

from imgpro.web.security import SESSION_COOKIE
from tests.browser import launch_chromium
from tests.conftest import Person, Stack, start_stack
from tests.factories import identity as idf
from tests.factories import images as make

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("IMGPRO_SCREENSHOTS")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
AXE = Axe()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running, server = start_stack("pages", tmp_path_factory.mktemp("pages"))
    try:
        yield running
    finally:
        running.close()
        server.stop()


@pytest.fixture(scope="module")
def chromium(site: Stack) -> Iterator[Browser]:
    # Playwright's sync API marks an event loop running in this thread: start the stack first
    assert site.base_url
    with launch_chromium() as browser:
        yield browser


@dataclass
class Visit:
    """What one page load did besides drawing the page."""

    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def signed_in_client(stack: Stack, person: Person) -> httpx.Client:
    client = stack.client()
    idf.sign_in(stack, client, person.email)
    return client


def warm(stack: Stack, client: httpx.Client, path: str) -> None:
    """Render every CDN image the page shows before the browser asks: on a busy machine a
    first render may be refused with 503 + Retry-After (the renderers are bounded), which is
    the CDN's capacity at work, not the page's fault."""
    html = client.get(path).text
    urls = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    for srcset in re.findall(r'srcset="([^"]+)"', html):
        urls |= {part.strip().split(" ")[0] for part in srcset.split(",")}
    for url in sorted(u.replace("&amp;", "&") for u in urls):
        if not url.startswith(stack.settings.cdn_url):
            continue
        for _ in range(30):
            answer = httpx.get(url, timeout=120)
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers.get("retry-after", "1")))


def open_page(context: BrowserContext, url: str, expected_status: int = 200) -> tuple[Page, Visit]:
    page = context.new_page()
    visit = Visit()
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: visit.failed.append(f"{r.url} {r.failure}"))

    def answered(response) -> None:  # type: ignore[no-untyped-def]
        document = response.request.resource_type == "document"
        if response.status >= 400 and not (document and response.status == expected_status):
            visit.failed.append(f"{response.status} {response.url}")

    page.on("response", answered)
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == expected_status, url
    if expected_status != 200:  # the page's own 4xx is its point, not a failure
        own = f"status of {expected_status}"
        visit.console_errors = [e for e in visit.console_errors if own not in e]
    return page, visit


def check(page: Page, visit: Visit, name: str, viewport: str) -> None:
    where = f"{name} at {viewport}"
    page.evaluate("document.fonts.ready")
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{where}: the page scrolls sideways ({width} > {inner})"
    assert not visit.console_errors, f"{where}: {visit.console_errors}"
    assert not visit.failed, f"{where}: {visit.failed}"
    violations = AXE.run(page).response["violations"]
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{where}: {serious}"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{viewport}.png"), full_page=True)


def context_for(
    browser: Browser, stack: Stack, viewport: str, client: httpx.Client | None = None
) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme="light")  # type: ignore[arg-type]
    context.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    if client is not None:
        context.add_cookies(
            [
                {
                    "name": SESSION_COOKIE,
                    "value": client.cookies[SESSION_COOKIE],
                    "url": stack.base_url,
                }
            ]
        )
    return context


@dataclass
class World:
    """The people and things every page shows."""

    ana: Person  # a signed-in user with images, on Free
    ana_client: httpx.Client
    image_id: str
    olu: Person  # owns an app (Pro)
    olu_client: httpx.Client
    app: idf.RegisteredApp
    bo: Person  # uses Olu's app
    bo_client: httpx.Client


@pytest.fixture(scope="module")
def world(site: Stack) -> World:
    ana = site.user()
    api = site.client(site.key(ana))
    uploads = [
        ("harbour.png", "Harbour at dusk", (640, 420)),
        ("forest.png", "Forest path", (420, 640)),
    ]
    uploads.append(("notes.png", "", (300, 300)))
    image_ids = []
    for filename, caption, (w, h) in uploads:
        created = api.post(
            "/v1/images",
            files={"file": (filename, make.png(w, h))},
            data={"caption": caption} if caption else {},
        )
        assert created.status_code == 201, created.text
        image_ids.append(created.json()["id"])
    olu = site.user("pro")
    app = idf.register_app(
        site,
        owner=olu,
        name="Demo Gallery",
        redirect_uris=[idf.CALLBACK, "http://localhost:5000/cb"],
    )
    bo = site.user()
    idf.connect_directly(site, app, bo)
    return World(
        ana,
        signed_in_client(site, ana),
        image_ids[0],
        olu,
        signed_in_client(site, olu),
        app,
        bo,
        signed_in_client(site, bo),
    )


def pages_of(world: World) -> dict[str, list[tuple[str, str, int]]]:
    """visitor -> [(screenshot name, path, expected status)]."""
    app = world.app
    return {
        "signed-out": [
            ("home", "/", 200),
            ("signin", "/signin", 200),
            ("docs-overview", "/api", 200),
            ("viewer", f"/{world.image_id}", 200),
            ("not-found", "/nope", 404),
            ("connect", idf.connect_url(app, state="s1"), 200),
            ("connect-error", f"/connect?app={app.id}&redirect_uri={idf.CALLBACK}/", 400),
        ],
        "signed-in": [
            ("dashboard", "/dashboard", 200),
            ("keys", "/dashboard/keys", 200),
            ("apps-free", "/dashboard/apps", 200),
            ("account", "/dashboard/account", 200),
            ("billing-free", "/billing", 200),
            ("viewer-owner", f"/{world.image_id}", 200),
        ],
        "app-owner": [
            ("apps", "/dashboard/apps", 200),
            ("app", f"/dashboard/apps/{app.id}", 200),
            ("connect-error-owner", f"/connect?app={app.id}&redirect_uri={idf.CALLBACK}/", 400),
        ],
        "app-user": [
            ("consent", idf.connect_url(app, state="s2"), 200),
            ("connections", "/dashboard/connections", 200),
            ("billing-apps", "/billing", 200),
        ],
    }


def client_of(world: World, visitor: str) -> httpx.Client | None:
    return {
        "signed-out": None,
        "signed-in": world.ana_client,
        "app-owner": world.olu_client,
        "app-user": world.bo_client,
    }[visitor]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("visitor", ["signed-out", "signed-in", "app-owner", "app-user"])
def test_every_page_fits_loads_cleanly_and_is_accessible(
    chromium: Browser, site: Stack, world: World, visitor: str, viewport: str
) -> None:
    client = client_of(world, visitor)
    context = context_for(chromium, site, viewport, client)
    try:
        for name, path, status in pages_of(world)[visitor]:
            warm(site, client or site.client(), path)
            page, visit = open_page(context, urljoin(site.base_url, path), status)
            check(page, visit, name, viewport)
            page.close()
    finally:
        context.close()


def test_actions_show_what_happened(chromium: Browser, site: Stack, world: World) -> None:
    """The pages that only a form post shows: a new app's secret, an upgrade's confirmation,
    a new API key; each at both sizes."""
    for viewport in VIEWPORTS:
        owner = site.user("pro")
        upgrader = site.user()
        contexts: list[BrowserContext] = []
        try:
            steps: list[tuple[httpx.Client, Callable[[Page], None], str]] = [
                (signed_in_client(site, owner), _register_app, "app-secret"),
                (signed_in_client(site, upgrader), _create_key, "key-created"),
                (signed_in_client(site, upgrader), _upgrade, "billing-upgraded"),
            ]
            for client, act, name in steps:
                context = context_for(chromium, site, viewport, client)
                contexts.append(context)
                page, visit = open_page(context, urljoin(site.base_url, "/dashboard"))
                act(page)
                page.wait_for_load_state("networkidle")
                check(page, visit, name, viewport)
        finally:
            for context in contexts:
                context.close()


def _register_app(page: Page) -> None:
    page.get_by_role("link", name="Apps", exact=True).click()
    page.get_by_label("Name").fill("Pixel Notes")
    page.get_by_label("Redirect URIs").fill("https://pixelnotes.example/auth/callback")
    page.get_by_role("button", name="Register app").click()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"img_sk_live_[0-9A-Za-z]{32}", secret)
    assert page.get_by_role("button", name=re.compile("Copy secret")).is_visible()


def _create_key(page: Page) -> None:
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("blog server")
    page.get_by_role("button", name="Create key").click()
    assert page.locator("#new-key").inner_text().startswith("img_live_")
    assert page.get_by_role("button", name=re.compile("Copy key")).is_visible()


def _upgrade(page: Page) -> None:
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("button", name="Continue to checkout").first.click()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_text("Payment received: the new plan is active").wait_for()
    picker = page.get_by_label("Change plan").first
    assert "Pro — $9/month" not in picker.inner_text()  # the plan it is on is not offered


def test_an_image_dropped_on_the_upload_zone_is_uploaded(chromium: Browser, site: Stack) -> None:
    person = site.user()
    context = context_for(chromium, site, "desktop", signed_in_client(site, person))
    try:
        page, visit = open_page(context, urljoin(site.base_url, "/dashboard"))
        png = list(make.png(64, 48))
        page.evaluate(
            """bytes => {
                const file = new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"});
                const data = new DataTransfer();
                data.items.add(file);
                const zone = document.querySelector(".dropzone");
                zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true}));
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
            }""",
            png,
        )
        assert page.locator("#dz-title").inner_text().startswith("dropped.png")
        page.get_by_label("Caption").fill("Dropped in")
        page.get_by_role("button", name="Upload").click()
        page.get_by_text("Image uploaded.").wait_for()
        assert page.get_by_text("Dropped in").is_visible()
        assert not visit.console_errors and not visit.failed
    finally:
        context.close()
