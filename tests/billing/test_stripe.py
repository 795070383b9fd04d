"""The Stripe provider end to end against the fake Stripe: Checkout Session, Billing Portal,
and webhooks that are verified, applied once, and survive replays and disorder."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.billing.conftest import StripeStack
from tests.billing.helpers import subscription
from tests.factories import identity as idf

RETURN = "https://app.example/billing/done"


def app_user(ss: StripeStack) -> tuple[httpx.Client, str]:
    app = idf.register_app(ss.stack)
    user_id = idf.connected_user(ss.stack, app)
    client = idf.act_as(ss.stack, app, user_id)
    manage = client.get("/v1/billing/status").json()["manage_url"]
    return client, parse_qs(urlsplit(manage).query)["workspace"][0]


def plan_of(client: httpx.Client) -> str:
    return str(client.get("/v1/billing/status").json()["plan"])


def start(ss: StripeStack, client: httpx.Client, **body: Any) -> str:
    """Check out through the API; the Stripe Checkout Session id."""
    response = client.post(
        "/v1/billing/checkout",
        json={"plan": "pro", "interval": "monthly", "return_url": RETURN, **body},
    )
    assert response.status_code == 201, response.text
    url = response.json()["checkout_url"]
    assert url.startswith(ss.fake.url + "/c/pay/cs_test_")
    return url.rsplit("/", 1)[1]


def subscribed(ss: StripeStack, client: httpx.Client, **body: Any) -> str:
    """Check out and complete the payment, delivering Stripe's events; the subscription id."""
    session_id = start(ss, client, **body)
    for event in ss.fake.complete(session_id):
        assert ss.fake.deliver(event).status_code == 200
    return str(ss.fake.sessions[session_id]["subscription"])


def test_checkout_creates_a_subscription_mode_session_on_the_wire(
    stripe_stack: StripeStack,
) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    session_id = start(ss, client, plan="scale", interval="annual")
    sent = ss.fake.calls("/v1/checkout/sessions")[-1]["params"]
    assert sent["mode"] == "subscription"
    assert sent["success_url"] == sent["cancel_url"] == RETURN
    assert sent["client_reference_id"] == workspace_id
    assert sent["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "29000",
                "recurring": {"interval": "year"},
                "product_data": {"name": "img.pro Scale"},
            },
            "quantity": "1",
        }
    ]
    assert sent["metadata"]["plan"] == "scale" and sent["metadata"]["workspace_id"] == workspace_id
    assert sent["subscription_data"]["metadata"] == sent["metadata"]
    assert "@example.com" in sent["customer_email"]
    assert session_id in ss.fake.sessions
    assert plan_of(client) == "free"  # only a verified webhook changes the plan


def test_a_completed_checkout_upgrades_through_the_webhook(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    subscription_id = subscribed(ss, client, plan="scale", interval="annual")
    assert plan_of(client) == "scale"
    row = subscription(ss.stack, workspace_id)
    assert row is not None
    assert (row["provider"], row["plan"], row["interval"], row["status"]) == (
        "stripe",
        "scale",
        "annual",
        "active",
    )
    assert row["subscription_id"] == subscription_id and row["customer_id"].startswith("cus_")
    again = client.post(
        "/v1/billing/checkout",
        json={"plan": "max", "interval": "monthly", "return_url": RETURN},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"


def test_subscription_updates_cancel_and_payment_failure(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    subscription_id = subscribed(ss, client)
    ss.fake.deliver(ss.fake.update_subscription(subscription_id, cancel_at_period_end=True))
    assert plan_of(client) == "pro"
    assert subscription(ss.stack, workspace_id)["cancel_at_period_end"] is True  # type: ignore[index]
    ss.fake.deliver(ss.fake.invoice_failed(subscription_id))
    assert subscription(ss.stack, workspace_id)["status"] == "past_due"  # type: ignore[index]
    assert plan_of(client) == "pro"  # a failed payment alone does not take the plan away
    ss.fake.deliver(ss.fake.update_subscription(subscription_id, status="canceled"))
    assert plan_of(client) == "free"
    assert subscription(ss.stack, workspace_id)["status"] == "canceled"  # type: ignore[index]


def test_a_bad_signature_is_refused_with_400_and_changes_nothing(
    stripe_stack: StripeStack,
) -> None:
    ss = stripe_stack
    client, _ = app_user(ss)
    session_id = start(ss, client)
    events = ss.fake.complete(session_id)
    stale_time = int(time.time()) - 3600
    for attempt in (
        {"secret": "whsec_someone_else"},
        {"signature": "t=1,v1=deadbeef"},
        {"signature": ""},
        {"timestamp": stale_time},  # a captured delivery replayed an hour later
    ):
        for event in events:
            response = ss.fake.deliver(event, **attempt)
            assert response.status_code == 400, (attempt, response.text)
            assert response.json()["error"]["code"] == "bad_request"
    assert plan_of(client) == "free"
    missing = httpx.post(ss.fake.webhook_url, content=b"{}", timeout=10)
    assert missing.status_code == 400
    for event in events:
        assert ss.fake.deliver(event).status_code == 200
    assert plan_of(client) == "pro"


def test_each_event_is_applied_once_even_when_delivered_twice(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    subscription_id = subscribed(ss, client)
    cancel = ss.fake.update_subscription(subscription_id, status="canceled")
    resume = ss.fake.update_subscription(subscription_id, status="active")  # (never happens
    # in Stripe after a cancel; here it shows the deletion is final and replays are no-ops)
    assert ss.fake.deliver(cancel).json()["outcome"] == "applied"
    assert ss.fake.deliver(resume).json()["outcome"] == "stale"
    with ThreadPoolExecutor(8) as pool:  # the same event, redelivered concurrently
        outcomes = [
            r.json()["outcome"] for r in pool.map(lambda _: ss.fake.deliver(cancel), range(8))
        ]
    assert outcomes == ["duplicate"] * 8
    assert plan_of(client) == "free"
    assert subscription(ss.stack, workspace_id)["status"] == "canceled"  # type: ignore[index]


def test_concurrent_first_deliveries_of_one_event_apply_it_once(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, _ = app_user(ss)
    created, completed = ss.fake.complete(start(ss, client))
    with ThreadPoolExecutor(8) as pool:
        outcomes = [
            r.json()["outcome"] for r in pool.map(lambda _: ss.fake.deliver(completed), range(8))
        ]
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 7
    assert plan_of(client) == "pro"
    assert ss.fake.deliver(created).json()["outcome"] == "applied"


def test_out_of_order_events_never_undo_newer_state(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    created, completed = ss.fake.complete(start(ss, client))
    subscription_id = created["data"]["object"]["id"]
    going = ss.fake.update_subscription(subscription_id, cancel_at_period_end=True)
    gone = ss.fake.update_subscription(subscription_id, status="canceled")
    # delivered newest first: the deletion, then older news about the same subscription
    assert ss.fake.deliver(gone).json()["outcome"] == "applied"
    for late in (going, completed, created):
        assert ss.fake.deliver(late).json()["outcome"] == "stale"
    assert plan_of(client) == "free"
    assert subscription(ss.stack, workspace_id)["subscription_id"] == subscription_id  # type: ignore[index]


def test_an_older_update_after_a_newer_one_is_ignored(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    subscription_id = subscribed(ss, client)
    older = ss.fake.update_subscription(subscription_id, cancel_at_period_end=True)
    newer = ss.fake.update_subscription(subscription_id, cancel_at_period_end=False)
    assert ss.fake.deliver(newer).json()["outcome"] == "applied"
    assert ss.fake.deliver(older).json()["outcome"] == "stale"
    assert subscription(ss.stack, workspace_id)["cancel_at_period_end"] is False  # type: ignore[index]


def test_late_news_of_an_old_subscription_leaves_the_new_one_alone(
    stripe_stack: StripeStack,
) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    first = subscribed(ss, client)
    late_update = ss.fake.update_subscription(first, cancel_at_period_end=True)
    ss.fake.deliver(ss.fake.update_subscription(first, status="canceled"))
    assert plan_of(client) == "free"
    second = subscribed(ss, client, plan="max")
    assert plan_of(client) == "max"
    assert ss.fake.deliver(late_update).json()["outcome"] == "stale"
    assert plan_of(client) == "max"
    assert subscription(ss.stack, workspace_id)["subscription_id"] == second  # type: ignore[index]
    sent = ss.fake.calls("/v1/checkout/sessions")[-1]["params"]
    assert sent["customer"] == subscription(ss.stack, workspace_id)["customer_id"]  # type: ignore[index]


def test_a_plan_switch_in_the_portal_follows_the_price(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, _ = app_user(ss)
    subscription_id = subscribed(ss, client)
    price = {"id": "price_unknown", "object": "price", "recurring": {"interval": "year"}}
    assert (
        ss.fake.deliver(ss.fake.update_subscription(subscription_id, price=price)).status_code
        == 200
    )
    assert plan_of(client) == "pro"  # no catalogue price names it: the metadata plan stays


def test_unrelated_events_are_acknowledged_and_ignored(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    event = ss.fake.event("customer.created", {"id": "cus_test_x", "object": "customer"})
    response = ss.fake.deliver(event)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


def test_the_billing_page_opens_the_stripe_portal(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    person = ss.stack.user()
    key = ss.stack.key(person)
    client = ss.stack.client(key)
    browser = ss.stack.client()
    idf.sign_in(ss.stack, browser, person.email)
    workspace_id = parse_qs(urlsplit(client.get("/v1/billing/status").json()["manage_url"]).query)[
        "workspace"
    ][0]
    page = browser.get("/billing")
    started = browser.post(
        "/billing/checkout",
        data={
            "csrf_token": idf.csrf_of(page.text),
            "workspace": workspace_id,
            "plan": "pro",
            "interval": "monthly",
        },
    )
    assert started.status_code == 303 and started.headers["location"].startswith(ss.fake.url)
    session_id = started.headers["location"].rsplit("/", 1)[1]
    for event in ss.fake.complete(session_id):
        ss.fake.deliver(event)
    page = browser.get("/billing")
    assert "Change or cancel on Stripe" in page.text
    portal = browser.post(
        "/billing/portal", data={"csrf_token": idf.csrf_of(page.text), "workspace": workspace_id}
    )
    assert portal.status_code == 303
    assert portal.headers["location"].startswith(ss.fake.url + "/p/session/bps_test_")
    sent = ss.fake.calls("/v1/billing_portal/sessions")[-1]["params"]
    assert sent["return_url"] == f"{ss.stack.settings.web_url}/billing?workspace={workspace_id}"


def test_stripe_being_down_is_a_503_and_changes_nothing(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    client, workspace_id = app_user(ss)
    ss.fake.fail_next = 10
    response = client.post(
        "/v1/billing/checkout", json={"plan": "pro", "interval": "monthly", "return_url": RETURN}
    )
    ss.fake.fail_next = 0
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"
    assert plan_of(client) == "free" and subscription(ss.stack, workspace_id) is None


def test_a_signed_but_malformed_event_is_a_400(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    good = ss.fake.event("customer.subscription.updated", {"id": "sub_x", "status": "active"})
    for broken in (
        {**good, "id": "evt_\x00"},
        {**good, "id": ""},
        {**good, "created": "yesterday"},
        {**good, "data": {}},
        {k: v for k, v in good.items() if k != "type"},
    ):
        response = ss.fake.deliver(broken)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_request"
    ghost = ss.fake.event(
        "customer.subscription.deleted",
        {"id": "sub_\x00", "customer": "cus_\x00", "metadata": {"workspace_id": "\x00"}},
    )
    assert ss.fake.deliver(ghost).json()["outcome"] == "ignored"
