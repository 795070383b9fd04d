"""Billing use cases: status, checkout (API and dashboard), the local test checkout, plan
changes and cancellation on the dashboard, the Stripe portal, and the billing page's data.

Who commits: each use case that changes something commits its own work (start_checkout, the
local checkout's pay and cancel, change_plan, cancel_at_period_end); the readers change
nothing but a due period end, which `subscriptions.settle` applies and commits first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import User, Workspace, WorkspaceKind
from imgpro.apps import service as apps
from imgpro.billing import meter, subscriptions
from imgpro.billing.plans import Interval, Plan, add_interval, catalogue
from imgpro.billing.providers import CheckoutContext, provider_for
from imgpro.billing.providers.local import token_hash
from imgpro.billing.schemas import (
    MAX_RETURN_URL,
    BillingStatus,
    CheckoutIn,
    PlanChoice,
    PlanOut,
)
from imgpro.billing.tables import Checkout, CheckoutStatus, Subscription
from imgpro.db.base import utcnow
from imgpro.errors import ApiError, invalid
from imgpro.ids import new_id
from imgpro.images.schemas import Usage
from imgpro.settings import Settings

CHECKOUT_LIFETIME = timedelta(hours=24)  # as long as a Stripe Checkout Session


class CheckoutClosed(Exception):
    """The local checkout was paid, cancelled or has expired; `reason` says which."""

    def __init__(self, reason: str, return_url: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.return_url = return_url


@dataclass(frozen=True)
class CheckoutRequest:
    plan: Plan
    interval: Interval
    return_url: str

    def fingerprint(self) -> str:
        return json.dumps([self.plan.id, self.interval, self.return_url])


def manage_url(settings: Settings, workspace_id: str) -> str:
    """The billing page, focused on this workspace (sign-in first when needed)."""
    return f"{settings.web_url}/billing?{urlencode({'workspace': workspace_id})}"


def check_return_url(value: str | None) -> str:
    """An absolute http(s) URL with a host and no credentials, else invalid_target_url."""
    url = value or ""
    problem = None
    if not url:
        problem = "Send return_url, the absolute http(s) URL to come back to."
    elif len(url) > MAX_RETURN_URL or not url.isascii() or not url.isprintable():
        problem = f"return_url is at most {MAX_RETURN_URL} printable ASCII characters."
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            problem = "return_url must be an absolute http:// or https:// URL."
        elif parts.username is not None or parts.password is not None or " " in url:
            problem = "return_url may not contain a user name or password."
    if problem is not None:
        raise ApiError("invalid_target_url", problem, details={"return_url": [problem]})
    return url


_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL that check_return_url or check_redirect_uri accepted."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _PORTS.get(scheme)


async def check_app_return_url(db: AsyncSession, app_id: str, return_url: str) -> None:
    """In app mode, checkout returns only to the app's own site: the origin of one of its
    registered redirect URIs (else an app secret could make img.pro's checkout page an open
    redirect to anywhere). An API key acts for its owner and may name any URL."""
    app = await apps.get_app(db, app_id)
    origins = {_origin(uri) for uri in (app.redirect_uris if app is not None else [])}
    if _origin(return_url) not in origins:
        problem = "In app mode, return_url must be on the origin of one of the app's redirect URIs."
        raise ApiError("invalid_target_url", problem, details={"return_url": [problem]})


def paid_plan(settings: Settings, choice: PlanChoice) -> Plan:
    """The paid plan `choice` names, if this server sells it for that interval."""
    plans = catalogue(settings)
    plan = plans.find(choice.plan)
    if plan is None or not plan.is_paid:
        choices = ", ".join(paid.id for paid in plans.paid)
        raise invalid("plan", f"Choose a paid plan: one of {choices}.")
    if choice.interval not in plan.prices:
        raise invalid("interval", f"The {plan.name} plan has no {choice.interval} price.")
    return plan


def checkout_request(settings: Settings, body: CheckoutIn) -> CheckoutRequest:
    """The checkout a parsed body asks for; nothing is changed on a refusal."""
    return CheckoutRequest(
        paid_plan(settings, body), body.interval, check_return_url(body.return_url)
    )


async def status(db: AsyncSession, settings: Settings, workspace: Workspace) -> BillingStatus:
    usage = await meter.usage(db, settings, workspace)
    return BillingStatus(
        plan=usage.plan.id,
        manage_url=manage_url(settings, workspace.id),
        usage=Usage.of(usage),
        available_plans=[PlanOut.of(plan) for plan in catalogue(settings).paid],
    )


async def start_checkout(
    db: AsyncSession, settings: Settings, workspace: Workspace, request: CheckoutRequest
) -> str:
    """The provider's checkout URL for a free workspace's first upgrade."""
    await subscriptions.settle(db, workspace)
    if catalogue(settings).get(workspace.plan).is_paid:
        raise ApiError(
            "already_subscribed",
            f"This workspace is already on the {catalogue(settings).get(workspace.plan).name} "
            "plan; change or cancel it on the billing page (manage_url).",
            action={
                "type": "manage",
                "url": manage_url(settings, workspace.id),
                "label": "Manage billing",
            },
        )
    provider = provider_for(settings)
    user = await _payer(db, workspace)
    existing = await subscriptions.get_subscription(db, workspace.id)
    now = utcnow()
    checkout = Checkout(
        id=new_id(),
        workspace_id=workspace.id,
        provider=provider.name,
        plan=request.plan.id,
        interval=request.interval,
        return_url=request.return_url,
        status=CheckoutStatus.OPEN,
        created_at=now,
        expires_at=now + CHECKOUT_LIFETIME,
    )
    url = await provider.start_checkout(
        CheckoutContext(
            checkout,
            request.plan,
            user.email if user else None,
            existing.customer_id if existing and existing.provider == provider.name else None,
        )
    )
    db.add(checkout)
    await db.commit()
    return url


# ---- the local provider's test checkout -------------------------------------------------------


@dataclass(frozen=True)
class OpenCheckout:
    checkout: Checkout
    plan: Plan
    workspace: Workspace
    workspace_label: str
    email: str | None


async def open_local_checkout(db: AsyncSession, settings: Settings, token: str) -> OpenCheckout:
    """The checkout behind a test-checkout URL, if it can still be paid."""
    checkout = (
        await db.execute(select(Checkout).where(Checkout.token_hash == token_hash(token)))
    ).scalar()
    if checkout is None or checkout.provider != "local":
        raise CheckoutClosed("unknown")
    if checkout.status != CheckoutStatus.OPEN:
        raise CheckoutClosed(checkout.status, checkout.return_url)
    if checkout.expires_at <= utcnow():
        raise CheckoutClosed("expired", checkout.return_url)
    workspace = await accounts.get_workspace(db, checkout.workspace_id)
    plan = catalogue(settings).find(checkout.plan)
    if workspace is None or plan is None or checkout.interval not in plan.prices:
        raise CheckoutClosed("unknown")
    user = await _payer(db, workspace)
    return OpenCheckout(
        checkout,
        plan,
        workspace,
        await workspace_label(db, workspace),
        user.email if user else None,
    )


async def pay_local_checkout(db: AsyncSession, settings: Settings, token: str) -> str:
    """Pay a test checkout: the plan changes at once. Returns where to send the browser."""
    found = await open_local_checkout(db, settings, token)
    workspace = await subscriptions.lock_workspace(db, found.workspace.id)
    checkout = await db.get(Checkout, found.checkout.id, populate_existing=True)
    assert workspace is not None and checkout is not None
    if (
        checkout.status != CheckoutStatus.OPEN
    ):  # paid or cancelled meanwhile (double click, second tab)
        await db.commit()
        raise CheckoutClosed(checkout.status, checkout.return_url)
    if catalogue(settings).get(workspace.plan).is_paid:
        checkout.status = CheckoutStatus.CANCELED
        await db.commit()
        raise CheckoutClosed("already_subscribed", checkout.return_url)
    now = utcnow()
    await subscriptions.activate(
        db,
        workspace,
        found.plan,
        checkout.interval,
        provider="local",
        period_end=add_interval(now, checkout.interval),
    )
    checkout.status = CheckoutStatus.PAID
    await db.commit()
    return checkout.return_url


async def cancel_local_checkout(db: AsyncSession, settings: Settings, token: str) -> str:
    found = await open_local_checkout(db, settings, token)
    found.checkout.status = CheckoutStatus.CANCELED
    await db.commit()
    return found.checkout.return_url


# ---- changes on the billing page ------------------------------------------------------------


async def owned_workspace(db: AsyncSession, user: User, workspace_id: str) -> Workspace | None:
    """A workspace whose plan `user` manages: theirs, or the own storage of an app they own."""
    return next((ws for ws in await _managed(db, user) if ws.id == workspace_id), None)


async def _payer(db: AsyncSession, workspace: Workspace) -> User | None:
    """Who pays for the workspace: its user, or for an app's own storage the app's owner."""
    if workspace.user_id is not None:
        return await accounts.get_user(db, workspace.user_id)
    app = await apps.get_app(db, workspace.app_id) if workspace.app_id else None
    return await accounts.get_user(db, app.owner_id) if app else None


async def _managed(db: AsyncSession, user: User) -> list[Workspace]:
    return await accounts.workspaces_of(db, user.id) + await apps.storage_workspaces_owned(db, user)


async def _local_subscription(
    db: AsyncSession, settings: Settings, workspace: Workspace
) -> Subscription:
    """The subscription the billing page may change: only the local provider's, and only while
    the local provider runs (under Stripe, a test subscription left from before would
    otherwise be a free way onto any paid plan)."""
    subscription = await subscriptions.get_subscription(db, workspace.id)
    if (
        subscription is None
        or subscription.provider != "local"
        or settings.billing_provider != "local"
    ):
        raise ApiError("not_found", "This workspace has no subscription to change here.")
    return subscription


async def change_plan(
    db: AsyncSession, settings: Settings, workspace: Workspace, choice: PlanChoice
) -> Plan:
    """Local provider: switch to another paid plan at once (no proration: no money moves)."""
    plan = paid_plan(settings, choice)
    locked = await subscriptions.lock_workspace(db, workspace.id)
    assert locked is not None
    subscription = await _local_subscription(db, settings, locked)
    await subscriptions.put_on_plan(db, locked, plan.id)
    subscription.plan, subscription.interval = plan.id, choice.interval
    subscription.cancel_at_period_end = False
    subscription.updated_at = utcnow()
    await db.commit()
    return plan


async def cancel_at_period_end(
    db: AsyncSession, settings: Settings, workspace: Workspace, cancel: bool
) -> None:
    """Local provider: cancel (or resume) — the plan stays until the period ends."""
    locked = await subscriptions.lock_workspace(db, workspace.id)
    assert locked is not None
    subscription = await _local_subscription(db, settings, locked)
    subscription.cancel_at_period_end = cancel
    subscription.updated_at = utcnow()
    await db.commit()


async def portal_url(db: AsyncSession, settings: Settings, workspace: Workspace) -> str:
    """Stripe: a Billing Portal session for the workspace's customer."""
    subscription = await subscriptions.get_subscription(db, workspace.id)
    if subscription is None or subscription.provider != "stripe" or not subscription.customer_id:
        raise ApiError("not_found", "This workspace has no Stripe customer yet.")
    return await provider_for(settings).portal_url(
        subscription.customer_id, manage_url(settings, workspace.id)
    )


# ---- the billing page -----------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceBilling:
    workspace: Workspace
    label: str
    plan: Plan
    usage: meter.Usage
    subscription: Subscription | None


async def workspace_label(db: AsyncSession, workspace: Workspace) -> str:
    if workspace.kind == WorkspaceKind.PERSONAL or workspace.app_id is None:
        return "Personal workspace"
    app = await apps.get_app(db, workspace.app_id)
    name = app.name if app is not None else "App workspace"
    return f"{name} · App storage" if workspace.kind == WorkspaceKind.APP_STORAGE else name


async def billing_overview(
    db: AsyncSession, settings: Settings, user: User
) -> list[WorkspaceBilling]:
    """Every workspace whose plan the user manages (personal first, then each connected app's
    and the own storage of each app they registered), with plan and usage."""
    rows = await _managed(db, user)
    result = []
    for workspace in rows:
        await subscriptions.settle(db, workspace)
        usage = await meter.read_usage(db, settings, workspace)
        result.append(
            WorkspaceBilling(
                workspace,
                await workspace_label(db, workspace),
                usage.plan,
                usage,
                await subscriptions.get_subscription(db, workspace.id),
            )
        )
    personal = [entry for entry in result if entry.workspace.kind == WorkspaceKind.PERSONAL]
    others = sorted(
        (entry for entry in result if entry.workspace.kind != WorkspaceKind.PERSONAL),
        key=lambda entry: entry.label.lower(),
    )
    return personal + others
