"""Stripe webhooks: the only way a Stripe subscription changes a plan.

Each delivery is verified with the webhook secret (`Stripe-Signature`), then applied at most
once: the event id is recorded in the same transaction as its effect, so a redelivery — even a
concurrent one — finds it and changes nothing. Stripe does not promise order, so each
workspace's subscription remembers the `created` time of the last subscription or invoice event
it applied; an older one is recorded as stale and ignored, a deleted subscription stays deleted,
a checkout completion never overrides what the subscription's own events said, and late news
about an old subscription never touches a newer one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import Workspace
from imgpro.billing import subscriptions
from imgpro.billing.plans import Catalogue, Plan, catalogue
from imgpro.billing.tables import BillingEvent, EventOutcome, Subscription, SubscriptionStatus
from imgpro.db.base import utcnow
from imgpro.errors import ApiError
from imgpro.http import BadJson, parse_json
from imgpro.logs import log
from imgpro.settings import Settings

COMPLETED = "checkout.session.completed"
DELETED = "customer.subscription.deleted"
SUBSCRIPTION_CHANGED = ("customer.subscription.created", "customer.subscription.updated")
PAYMENT_FAILED = "invoice.payment_failed"
LIVE = ("active", "trialing", "past_due")
OVER = ("canceled", "unpaid", "incomplete_expired")
INTERVAL_OF = {"month": "monthly", "year": "annual"}
SIGNATURE_TOLERANCE = 300  # seconds a signature may be old (or, for a fast clock, early)


def verify(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if `Stripe-Signature` proves Stripe sent this exact payload recently."""
    if signature is None:  # malformed on any server, Stripe enabled or not
        raise ApiError("bad_request", "Send the Stripe-Signature header.")
    if settings.billing_provider != "stripe" or not settings.stripe_webhook_secret:
        raise ApiError("not_found", "Stripe webhooks are not enabled on this server.")
    import stripe  # only where Stripe is configured: the SDK costs every server process 8 MB

    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.stripe_webhook_secret, SIGNATURE_TOLERANCE
        )
    except (ValueError, stripe.SignatureVerificationError):
        raise ApiError(
            "bad_request", "The Stripe-Signature header does not verify this payload."
        ) from None
    assert signature is not None  # verify_header refuses a missing one
    # Stripe's check only bounds the past; a delivery signed for the future would stay
    # replayable until long after it was captured
    if _signed_at(signature) > time.time() + SIGNATURE_TOLERANCE:
        raise ApiError("bad_request", "The Stripe-Signature timestamp is in the future.")
    try:
        event = parse_json(payload)
    except BadJson as exc:
        raise ApiError("bad_request", f"The payload is {exc}.") from None
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not _stripe_id(event.get("id"))
        or not _stripe_id(event.get("type"))
        or not isinstance(event.get("created"), int)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise ApiError("bad_request", "The event lacks id, type, created or data.object.")
    return dict(event)


def _signed_at(signature: str) -> int:
    """The `t=` of a Stripe-Signature header that verified (so it has one, an integer)."""
    stamps = [item[2:] for item in signature.split(",") if item.startswith("t=")]
    return int(stamps[0])


def _stripe_id(value: Any) -> bool:
    """Stripe ids and event types are short printable ASCII (never NUL, which PostgreSQL
    cannot store)."""
    return (
        isinstance(value, str) and 0 < len(value) <= 255 and value.isascii() and value.isprintable()
    )


async def process(db: AsyncSession, settings: Settings, event: dict[str, Any]) -> EventOutcome:
    """Apply `event` once; the outcome is applied, stale, ignored or duplicate."""
    record = BillingEvent(
        id=event["id"],
        provider="stripe",
        type=event["type"][:64],
        created=event["created"],
        outcome=EventOutcome.RECEIVED,
        received_at=utcnow(),
    )
    db.add(record)
    try:
        await db.flush()  # a concurrent delivery of the same event waits here, then fails
    except IntegrityError:
        await db.rollback()
        return EventOutcome.DUPLICATE
    record.outcome = await _apply(db, settings, event)
    await db.commit()
    log.info("stripe_event", id=event["id"], type=event["type"], outcome=record.outcome)
    return record.outcome


def _ids(event: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(workspace id, subscription id, customer id) named by the event, where present."""
    kind, obj = event["type"], event["data"]["object"]
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    workspace_id = metadata.get("workspace_id")
    if kind == COMPLETED:
        workspace_id = obj.get("client_reference_id") or workspace_id
        subscription_id = obj.get("subscription")
    elif kind == PAYMENT_FAILED:
        workspace_id = None
        subscription_id = obj.get("subscription") or (
            ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        )
    else:
        subscription_id = obj.get("id")
    customer_id = obj.get("customer")

    def text(value: Any) -> str | None:
        return value if _stripe_id(value) else None

    return text(workspace_id), text(subscription_id), text(customer_id)


@dataclass
class _Event:
    """A Stripe event that passed the guard: about a workspace we know, not stale."""

    kind: str
    created: int
    obj: dict[str, Any]
    workspace: Workspace
    current: Subscription | None
    subscription_id: str
    customer_id: str | None
    plans: Catalogue


async def _apply(db: AsyncSession, settings: Settings, event: dict[str, Any]) -> EventOutcome:
    """The guard, then the handler of the event's type."""
    guarded = await _guard(db, settings, event)
    if isinstance(guarded, EventOutcome):
        return guarded
    if guarded.kind == COMPLETED:
        return await _checkout_completed(db, guarded)
    if guarded.kind == PAYMENT_FAILED:
        return _payment_failed(guarded)
    return await _subscription_changed(db, guarded)


async def _guard(
    db: AsyncSession, settings: Settings, event: dict[str, Any]
) -> _Event | EventOutcome:
    """The event to apply, or why not: "ignored" (not ours, unknown workspace) or "stale"."""
    kind, created = event["type"], event["created"]
    if kind not in (COMPLETED, DELETED, PAYMENT_FAILED, *SUBSCRIPTION_CHANGED):
        return EventOutcome.IGNORED
    workspace_id, subscription_id, customer_id = _ids(event)
    if workspace_id is None:
        known = await subscriptions.find_by_provider_ids(db, subscription_id, customer_id)
        workspace_id = known.workspace_id if known is not None else None
    if workspace_id is None or subscription_id is None:
        return EventOutcome.IGNORED
    workspace = await subscriptions.lock_workspace(db, workspace_id)
    if workspace is None:
        return EventOutcome.IGNORED
    current = await subscriptions.get_subscription(db, workspace_id)
    if current is not None and current.provider == "stripe":
        last = current.last_event_at or 0
        if current.subscription_id == subscription_id:
            if created < last or (
                current.status == SubscriptionStatus.CANCELED and kind != DELETED
            ):
                return EventOutcome.STALE  # older news, or news after the end: the end is final
            if kind == COMPLETED:  # the subscription's own events already told us more
                current.customer_id = current.customer_id or customer_id
                return EventOutcome.APPLIED
        elif created < last or (
            current.status != SubscriptionStatus.CANCELED and kind != COMPLETED
        ):
            return EventOutcome.STALE  # about an earlier subscription than the one we hold
    obj = event["data"]["object"]
    return _Event(
        kind, created, obj, workspace, current, subscription_id, customer_id, catalogue(settings)
    )


async def _checkout_completed(db: AsyncSession, event: _Event) -> EventOutcome:
    obj = event.obj
    metadata = obj.get("metadata") or {}
    plan = event.plans.find(str(metadata.get("plan")))
    interval = str(metadata.get("interval"))
    if (
        obj.get("mode") != "subscription"
        or obj.get("payment_status") not in ("paid", "no_payment_required")
        or plan is None
        or not plan.is_paid
    ):
        return EventOutcome.IGNORED
    await subscriptions.activate(
        db,
        event.workspace,
        plan,
        interval if interval in plan.prices else next(iter(plan.prices)),
        provider="stripe",
        period_end=None,
        customer_id=event.customer_id,
        subscription_id=event.subscription_id,
        # no event_at: the subscription's own (richer) events, even slightly older ones,
        # still apply after this; only they order each other
    )
    return EventOutcome.APPLIED


def _payment_failed(event: _Event) -> EventOutcome:
    current = event.current
    if current is None or current.subscription_id != event.subscription_id:
        return EventOutcome.IGNORED
    if current.status == SubscriptionStatus.ACTIVE:
        current.status = SubscriptionStatus.PAST_DUE
    current.last_event_at, current.updated_at = event.created, utcnow()
    return EventOutcome.APPLIED


async def _subscription_changed(db: AsyncSession, event: _Event) -> EventOutcome:
    """customer.subscription.created / updated / deleted: the plan follows the subscription."""
    obj, status = event.obj, event.obj.get("status")
    if event.kind == DELETED or status in OVER:
        row = event.current or _new_row(db, event.workspace.id)
        row.provider, row.subscription_id = "stripe", event.subscription_id
        row.customer_id = row.customer_id or event.customer_id
        row.plan, row.interval = row.plan or "free", row.interval or "monthly"
        await subscriptions.end(db, event.workspace, row)
        row.last_event_at = event.created
        return EventOutcome.APPLIED
    if status not in LIVE:
        return EventOutcome.IGNORED  # incomplete, paused: no plan until Stripe says it is live
    found = _plan_of(event.plans, obj)
    if found is None:
        log.warning("stripe_unknown_plan", subscription=event.subscription_id)
        return EventOutcome.IGNORED
    plan, interval = found
    row = await subscriptions.activate(
        db,
        event.workspace,
        plan,
        interval,
        provider="stripe",
        period_end=_period_end(obj),
        customer_id=event.customer_id,
        subscription_id=event.subscription_id,
        event_at=event.created,
    )
    row.status = SubscriptionStatus.PAST_DUE if status == "past_due" else SubscriptionStatus.ACTIVE
    row.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    return EventOutcome.APPLIED


def _new_row(db: AsyncSession, workspace_id: str) -> Subscription:
    row = Subscription(
        workspace_id=workspace_id, plan="free", interval="monthly", status=SubscriptionStatus.ACTIVE
    )
    db.add(row)
    return row


def _first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items and isinstance(items[0], dict) else {}


def _plan_of(plans: Catalogue, subscription: dict[str, Any]) -> tuple[Plan, str] | None:
    """The plan a subscription pays for: its price id when the catalogue names Stripe prices
    (plan switches in the portal), else the metadata our checkout put on it."""
    price = _first_item(subscription).get("price") or {}
    if isinstance(price.get("id"), str):
        found = plans.by_stripe_price(price["id"])
        if found is not None:
            return found
    metadata = subscription.get("metadata") or {}
    plan = plans.find(str(metadata.get("plan")))
    if plan is None or not plan.is_paid:
        return None
    interval = INTERVAL_OF.get(str((price.get("recurring") or {}).get("interval")))
    interval = interval or str(metadata.get("interval"))
    return plan, interval if interval in plan.prices else next(iter(plan.prices))


def _period_end(subscription: dict[str, Any]) -> datetime | None:
    # newer API versions keep the period on each item, older ones on the subscription
    stamp = subscription.get("current_period_end") or _first_item(subscription).get(
        "current_period_end"
    )
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else None
