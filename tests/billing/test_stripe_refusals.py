"""What the Stripe setup refuses: a plan change through a subscription another provider made,
webhooks whose JSON nests without end, and webhooks dated in the future."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from imgpro.accounts import service as accounts
from imgpro.billing import subscriptions
from imgpro.billing.plans import catalogue
from imgpro.db.base import utcnow
from imgpro.runtime import Runtime
from tests.billing.conftest import WEBHOOK_SECRET, StripeStack
from tests.billing.fake_stripe import sign
from tests.billing.helpers import personal_workspace_id, subscription
from tests.conftest import Person
from tests.factories import identity as idf


def with_local_subscription(ss: StripeStack, person: Person, plan: str = "pro") -> str:
    """A workspace still holding a subscription the local provider made (before Stripe)."""
    workspace_id = personal_workspace_id(ss.stack, person)

    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            workspace = await accounts.get_workspace(db, workspace_id)
            assert workspace is not None
            await subscriptions.activate(
                db,
                workspace,
                catalogue(rt.settings).get(plan),
                "monthly",
                provider="local",
                period_end=utcnow() + timedelta(days=20),
            )
            await db.commit()

    ss.stack.run(work)
    return workspace_id


def test_a_local_subscription_cannot_change_plans_under_stripe(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    person = ss.stack.user()
    workspace_id = with_local_subscription(ss, person)
    browser = ss.stack.client()
    idf.sign_in(ss.stack, browser, person.email)
    for action, fields in (
        ("/billing/change", {"plan": "max:annual"}),
        ("/billing/cancel", {}),
        ("/billing/resume", {}),
    ):
        page = browser.get("/billing")
        response = browser.post(
            action,
            data={"csrf_token": idf.csrf_of(page.text), "workspace": workspace_id, **fields},
        )
        assert response.status_code == 404, (action, response.status_code)
    row = subscription(ss.stack, workspace_id)
    assert row is not None
    assert (row["plan"], row["interval"], row["cancel_at_period_end"]) == ("pro", "monthly", False)
    assert ss.stack.client(ss.stack.key(person)).get("/v1/billing/status").json()["plan"] == "pro"


def post_signed(ss: StripeStack, payload: bytes, timestamp: int | None = None) -> httpx.Response:
    return httpx.post(
        ss.fake.webhook_url,
        content=payload,
        headers={
            "Stripe-Signature": sign(WEBHOOK_SECRET, payload, timestamp),
            "Content-Type": "application/json",
        },
        timeout=30,
    )


def test_a_signed_webhook_nested_without_end_is_a_400(stripe_stack: StripeStack) -> None:
    abyss = b"[" * 100_000 + b"]" * 100_000
    for payload in (abyss, b'{"id": "evt_1", "data": {"object": ' + abyss + b"}}"):
        response = post_signed(stripe_stack, payload)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_request"


def test_a_webhook_dated_in_the_future_is_refused(stripe_stack: StripeStack) -> None:
    ss = stripe_stack
    event = ss.fake.event("customer.subscription.updated", {"id": "sub_x", "status": "active"})
    # signed for an hour from now: a replay window that would open later
    future = ss.fake.deliver(event, timestamp=int(time.time()) + 3600)
    assert future.status_code == 400, future.text
    assert future.json()["error"]["code"] == "bad_request"
    # a clock a little ahead of ours is still fine
    assert ss.fake.deliver(event, timestamp=int(time.time()) + 60).status_code == 200
