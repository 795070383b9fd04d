"""The billing page, the local test checkout and signed upgrade links, over HTTP."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from imgpro.billing import links
from imgpro.db.base import utcnow
from tests.billing.helpers import (
    personal_workspace_id,
    set_period_end,
    set_usage,
    subscription,
)
from tests.conftest import Person, Stack
from tests.factories import identity as idf
from tests.factories import images as make


def signed_in(stack: Stack, person: Person) -> httpx.Client:
    browser = stack.client()
    idf.sign_in(stack, browser, person.email)
    return browser


def plan_of(stack: Stack, key: str) -> str:
    return str(stack.client(key).get("/v1/billing/status").json()["plan"])


def post_form(browser: httpx.Client, page_path: str, action: str, **fields: str) -> httpx.Response:
    page = browser.get(page_path)
    return browser.post(action, data={"csrf_token": idf.csrf_of(page.text), **fields})


def checkout_from_page(browser: httpx.Client, workspace_id: str, plan: str = "pro") -> str:
    """Start an upgrade on the billing page; the test checkout URL it sends the browser to."""
    response = post_form(
        browser,
        "/billing",
        "/billing/checkout",
        workspace=workspace_id,
        plan=plan,
        interval="monthly",
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def pay(browser: httpx.Client, checkout_url: str) -> httpx.Response:
    path = urlsplit(checkout_url).path
    return post_form(browser, path, f"{path}/pay")


def test_manage_url_asks_for_sign_in_then_opens_the_billing_page_on_that_workspace(
    stack: Stack,
) -> None:
    app = idf.register_app(stack)
    email = idf.new_email()
    user_id = idf.connected_user(stack, app, email)
    manage = idf.act_as(stack, app, user_id).get("/v1/billing/status").json()["manage_url"]
    workspace_id = parse_qs(urlsplit(manage).query)["workspace"][0]
    browser = stack.client()
    first = browser.get(manage)
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?" + urlencode(
        {"next": f"/billing?workspace={workspace_id}"}
    )
    page = browser.get("/signin?" + urlencode({"next": f"/billing?workspace={workspace_id}"}))
    browser.post("/signin", data={"csrf_token": idf.csrf_of(page.text), "email": email})
    done = browser.post(
        "/signin/code",
        data={
            "csrf_token": idf.csrf_of(page.text),
            "email": email,
            "code": idf.outbox_code(stack, email),
            "next": f"/billing?workspace={workspace_id}",
        },
    )
    assert done.headers["location"] == f"/billing?workspace={workspace_id}"
    billing = browser.get(done.headers["location"])
    assert billing.status_code == 200
    cards = re.findall(
        r'<section class="card section billing-ws( focus)?" id="ws-(\w+)"', billing.text
    )
    assert cards[0] == (" focus", workspace_id)  # the linked workspace first, highlighted
    assert "Pixel Notes" in billing.text and "Personal workspace" in billing.text


def test_upgrade_through_the_local_test_checkout_changes_the_plan_at_once(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    browser = signed_in(stack, person)
    url = checkout_from_page(browser, workspace_id, "scale")
    page = browser.get(url)
    assert "Test checkout — no payment" in page.text and "Scale plan" in page.text
    assert plan_of(stack, key) == "free"
    paid = pay(browser, url)
    assert paid.status_code == 303
    assert paid.headers["location"] == (
        f"{stack.settings.web_url}/billing?workspace={workspace_id}&done=upgraded"
    )
    assert plan_of(stack, key) == "scale"
    confirmed = browser.get(paid.headers["location"]).text
    assert "Payment received: the new plan is active" in confirmed
    # the change picker offers the other plans and periods, never the current one
    options = re.findall(r'<option value="([a-z]+:[a-z]+)"', confirmed)
    assert "scale:monthly" not in options and {"pro:monthly", "scale:annual"} <= set(options)
    assert " selected" not in confirmed.split('name="plan"', 1)[1].split("</select>", 1)[0]
    row = subscription(stack, workspace_id)
    assert row is not None and row["provider"] == "local" and row["status"] == "active"
    assert row["current_period_end"] > utcnow() + timedelta(days=27)
    again = browser.post(  # a second click, or a second tab
        f"{urlsplit(url).path}/pay", data={"csrf_token": idf.csrf_of(page.text)}
    )
    assert again.status_code == 410 and plan_of(stack, key) == "scale"


def test_a_cancelled_checkout_changes_nothing(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    browser = signed_in(stack, person)
    url = checkout_from_page(browser, workspace_id)
    path = urlsplit(url).path
    page = browser.get(url)
    cancelled = browser.post(f"{path}/cancel", data={"csrf_token": idf.csrf_of(page.text)})
    assert cancelled.status_code == 303
    assert "nothing was charged" in browser.get(cancelled.headers["location"]).text
    paid = browser.post(f"{path}/pay", data={"csrf_token": idf.csrf_of(page.text)})
    assert paid.status_code == 410
    assert plan_of(stack, key) == "free" and subscription(stack, workspace_id) is None
    assert stack.client().get(url + "x").status_code == 404


def test_cancel_takes_effect_at_the_period_end_and_change_is_immediate(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    browser = signed_in(stack, person)
    pay(browser, checkout_from_page(browser, workspace_id))
    assert plan_of(stack, key) == "pro"
    changed = post_form(
        browser, "/billing", "/billing/change", workspace=workspace_id, plan="max:annual"
    )
    assert changed.status_code == 303 and plan_of(stack, key) == "max"
    assert subscription(stack, workspace_id)["interval"] == "annual"  # type: ignore[index]
    cancelled = post_form(browser, "/billing", "/billing/cancel", workspace=workspace_id)
    assert cancelled.status_code == 303
    assert plan_of(stack, key) == "max"  # until the period ends
    assert "stays until" in browser.get("/billing").text
    set_period_end(stack, workspace_id, utcnow() - timedelta(seconds=1))
    assert plan_of(stack, key) == "free"
    assert subscription(stack, workspace_id)["status"] == "canceled"  # type: ignore[index]


def test_a_live_local_subscription_renews_at_the_period_end(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    browser = signed_in(stack, person)
    pay(browser, checkout_from_page(browser, workspace_id))
    set_period_end(stack, workspace_id, utcnow() - timedelta(days=1))
    assert plan_of(stack, key) == "pro"
    assert subscription(stack, workspace_id)["current_period_end"] > utcnow()  # type: ignore[index]


def test_empty_meters_draw_no_bar(stack: Stack) -> None:
    person = stack.user()
    page = signed_in(stack, person).get("/billing").text
    fills = re.findall(r'class="meter-fill" style="width: ([0-9.]+)%"', page)
    assert fills and all(float(width) == 0 for width in fills)


def test_forms_need_the_csrf_token_and_the_owner(stack: Stack) -> None:
    owner, other = stack.user(), stack.user()
    key = stack.key(owner)
    workspace_id = personal_workspace_id(stack, owner)
    intruder = signed_in(stack, other)
    no_token = intruder.post(
        "/billing/checkout", data={"workspace": workspace_id, "plan": "pro", "interval": "monthly"}
    )
    assert no_token.status_code == 403
    foreign = post_form(
        intruder,
        "/billing",
        "/billing/checkout",
        workspace=workspace_id,
        plan="pro",
        interval="monthly",
    )
    assert foreign.status_code == 404
    page = intruder.get(f"/billing?workspace={workspace_id}")
    assert "not on the account you are signed in with" in page.text
    assert f"ws-{workspace_id}" not in page.text
    assert plan_of(stack, key) == "free"


def test_the_quota_upgrade_link_opens_the_billing_page(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    set_usage(stack, workspace_id, uploads=100)
    refused = stack.client(key).post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
    link = refused.json()["error"]["action"]["url"]
    browser = stack.client()
    followed = browser.get(link)
    assert followed.status_code == 303
    assert followed.headers["location"] == f"/billing?workspace={workspace_id}&plan=pro"
    assert browser.get(followed.headers["location"]).status_code == 303  # sign in first
    page = signed_in(stack, person).get(followed.headers["location"])
    assert re.search(r'value="pro" checked', page.text)


def test_a_tampered_or_expired_upgrade_link_is_refused(stack: Stack) -> None:
    person = stack.user()
    workspace_id = personal_workspace_id(stack, person)
    settings = stack.settings
    good = links.upgrade_url(
        settings.web_url, settings.signing_key, links.UpgradeTarget(workspace_id, "pro")
    )
    token = parse_qs(urlsplit(good).query)["t"][0]
    browser = stack.client()
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    forged = links.upgrade_url(
        settings.web_url, "not-the-key", links.UpgradeTarget(workspace_id, "max")
    )
    for bad in (f"/upgrade?t={flipped}", "/upgrade?t=", "/upgrade", forged):
        response = browser.get(bad)
        assert response.status_code == 400, bad
        assert "not valid" in response.text and "location" not in response.headers
    expired = links.upgrade_url(
        settings.web_url,
        settings.signing_key,
        links.UpgradeTarget(workspace_id, "pro"),
        now=time.time() - 8 * 24 * 3600,
    )
    response = browser.get(expired)
    assert response.status_code == 410 and "expired" in response.text
