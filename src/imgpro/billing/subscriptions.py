"""A workspace's plan and subscription: start, change, cancel, end — shared by the local
provider, the Stripe webhooks and the period-end settlement of local subscriptions.

Who commits: these are steps of the billing use cases and run in the caller's transaction,
except `settle`, which is a use case of its own (see there)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import Workspace, WorkspaceKind
from imgpro.billing.plans import FREE, Plan, add_interval
from imgpro.billing.tables import Subscription, SubscriptionStatus
from imgpro.db.base import utcnow
from imgpro.webhooks import service as webhooks


async def lock_workspace(db: AsyncSession, workspace_id: str) -> Workspace | None:
    """Serialise billing changes to one workspace, then read it fresh. The no-op write takes the
    row lock on PostgreSQL and the database write lock on SQLite before anything is read."""
    await db.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(plan=Workspace.plan)
        .execution_options(synchronize_session=False)
    )
    return await db.get(Workspace, workspace_id, populate_existing=True)


async def get_subscription(db: AsyncSession, workspace_id: str) -> Subscription | None:
    return await db.get(Subscription, workspace_id, populate_existing=True)


async def find_by_provider_ids(
    db: AsyncSession, subscription_id: str | None, customer_id: str | None
) -> Subscription | None:
    for column, value in (
        (Subscription.subscription_id, subscription_id),
        (Subscription.customer_id, customer_id),
    ):
        if value:
            found = (await db.execute(select(Subscription).where(column == value))).scalar()
            if found is not None:
                return found
    return None


async def activate(
    db: AsyncSession,
    workspace: Workspace,
    plan: Plan,
    interval: str,
    *,
    provider: str,
    period_end: datetime | None,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    event_at: int | None = None,
) -> Subscription:
    """Put the workspace on `plan` now, with a live subscription."""
    await put_on_plan(db, workspace, plan.id)
    subscription = await get_subscription(db, workspace.id)
    if subscription is None:
        subscription = Subscription(workspace_id=workspace.id)
        db.add(subscription)
    subscription.provider = provider
    subscription.plan = plan.id
    subscription.interval = interval
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.cancel_at_period_end = False
    subscription.current_period_end = period_end
    subscription.customer_id = customer_id or subscription.customer_id
    subscription.subscription_id = subscription_id
    if event_at is not None:
        subscription.last_event_at = event_at
    subscription.updated_at = utcnow()
    await db.flush()
    return subscription


async def put_on_plan(db: AsyncSession, workspace: Workspace, plan_id: str) -> None:
    """Set the workspace's plan; a change is told to the workspace's app (`plan.changed`)."""
    previous, workspace.plan = workspace.plan, plan_id
    if previous != plan_id:
        await webhooks.emit(db, workspace, "plan.changed", plan=plan_id, previous_plan=previous)


async def end(db: AsyncSession, workspace: Workspace, subscription: Subscription) -> None:
    """The subscription is over: back to the free plan (nothing is deleted)."""
    await put_on_plan(db, workspace, FREE)
    subscription.status = SubscriptionStatus.CANCELED
    subscription.cancel_at_period_end = False
    subscription.updated_at = utcnow()


async def settle(db: AsyncSession, workspace: Workspace, now: datetime | None = None) -> bool:
    """Apply a local subscription's period end: a cancelled one ends, a live one renews (no
    money moves). Stripe subscriptions change only through their webhooks. True if changed.

    Commits when it takes the workspace lock, so the lock is held for the settlement alone:
    readers (usage, the billing page) and checkout call it first, with nothing of theirs
    pending."""
    if workspace.plan == FREE or workspace.kind == WorkspaceKind.ANONYMOUS:
        return False
    now = now or utcnow()
    subscription = await db.get(Subscription, workspace.id)
    if (
        subscription is None
        or subscription.provider != "local"
        or subscription.status == SubscriptionStatus.CANCELED
        or subscription.current_period_end is None
        or subscription.current_period_end > now
    ):
        return False
    locked = await lock_workspace(db, workspace.id)
    subscription = await get_subscription(db, workspace.id)
    if locked is None or subscription is None or subscription.current_period_end is None:
        await db.commit()  # release the lock; a rollback would expire the caller's objects
        return False
    if subscription.current_period_end <= now:
        if subscription.cancel_at_period_end:
            await end(db, locked, subscription)
        else:
            while subscription.current_period_end <= now:
                subscription.current_period_end = add_interval(
                    subscription.current_period_end, subscription.interval
                )
            subscription.updated_at = now
    await db.commit()
    return True
