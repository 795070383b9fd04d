"""Metering against the plan: uploads this calendar month, bytes and images stored.

Exact under concurrency without a lock held across the upload: the charge is one conditional
UPDATE of the workspace's meter row (`... WHERE uploads < limit AND storage + n <= limit`, and
`images < limit` on plans that limit stored images),
made inside the transaction that inserts the image row. PostgreSQL re-checks the condition on
the newest row version after waiting for the row lock; SQLite runs one writer at a time. So the
counter can never pass the limit, and a rolled-back upload takes its charge with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import Workspace, WorkspaceKind
from imgpro.billing import links, subscriptions
from imgpro.billing.plans import (
    Plan,
    catalogue,
    month_period,
    period_key,
    price_label,
)
from imgpro.billing.tables import UsageMeter
from imgpro.db.base import utcnow
from imgpro.errors import ApiError
from imgpro.settings import Settings
from imgpro.units import storage_text


@dataclass(frozen=True)
class Usage:
    workspace_id: str
    plan: Plan
    period: tuple[datetime, datetime]
    uploads: int
    storage_bytes: int
    images: int
    metered: bool

    @property
    def uploads_full(self) -> bool:
        return self.uploads >= self.plan.monthly_uploads

    @property
    def storage_full(self) -> bool:
        return self.storage_bytes >= self.plan.storage_bytes

    @property
    def images_full(self) -> bool:
        return self.plan.images is not None and self.images >= self.plan.images

    @property
    def limits_enforced(self) -> bool:
        """Whether any limit of the plan applies to this workspace (the anonymous pool is
        rate-limited instead)."""
        return self.metered

    def for_error(self) -> dict[str, Any]:
        """The `usage` member of a quota error."""
        return {
            "plan": self.plan.id,
            "uploads_used": self.uploads,
            "uploads_limit": self.plan.monthly_uploads,
            "storage_used_bytes": self.storage_bytes,
            "storage_limit_bytes": self.plan.storage_bytes,
            "images_used": self.images,
            "images_limit": self.plan.images,
        }


def _is_metered(workspace: Workspace) -> bool:
    # the shared anonymous pool is rate-limited instead
    return workspace.kind != WorkspaceKind.ANONYMOUS


async def read_usage(
    db: AsyncSession, settings: Settings, workspace: Workspace, now: datetime | None = None
) -> Usage:
    now = now or utcnow()
    meter = await db.get(UsageMeter, workspace.id, populate_existing=True)
    uploads = meter.uploads if meter is not None and meter.period == period_key(now) else 0
    return Usage(
        workspace.id,
        catalogue(settings).get(workspace.plan),
        month_period(now),
        uploads,
        meter.storage_bytes if meter is not None else 0,
        meter.images if meter is not None else 0,
        _is_metered(workspace),
    )


async def usage(db: AsyncSession, settings: Settings, workspace: Workspace) -> Usage:
    """The workspace's usage, after applying a local subscription's period end if one has
    passed."""
    await subscriptions.settle(db, workspace)
    return await read_usage(db, settings, workspace)


async def check_upload_allowed(db: AsyncSession, settings: Settings, workspace: Workspace) -> None:
    """Refuse early (before the file is processed) when a limit is already reached. Advisory:
    `charge_upload` is what keeps the limit exact."""
    if not _is_metered(workspace):
        return
    await subscriptions.settle(db, workspace)
    current = await read_usage(db, settings, workspace)
    if current.uploads_full or current.storage_full or current.images_full:
        raise quota_error(settings, current)


async def charge_upload(
    db: AsyncSession, settings: Settings, workspace: Workspace, size: int
) -> None:
    """Count one upload of `size` bytes in the caller's open transaction, or raise
    quota_exceeded. The caller commits it together with the image row (or rolls both back)."""
    if not _is_metered(workspace):
        return
    plan = catalogue(settings).get(workspace.plan)
    period = period_key(utcnow())
    used = case((UsageMeter.period == period, UsageMeter.uploads), else_=0)
    within = [used < plan.monthly_uploads, UsageMeter.storage_bytes + size <= plan.storage_bytes]
    if plan.images is not None:
        within.append(UsageMeter.images < plan.images)
    charge = (
        update(UsageMeter)
        .where(UsageMeter.workspace_id == workspace.id, *within)
        .values(
            period=period,
            uploads=used + 1,
            storage_bytes=UsageMeter.storage_bytes + size,
            images=UsageMeter.images + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if (await db.execute(charge)).rowcount == 1:  # type: ignore[attr-defined]
        return
    # No row charged: the limit is reached, or the workspace has no meter yet. Create it (a
    # no-op when it exists) and charge again; never decide "over the limit" from a look at the
    # meter in between, since a concurrent first upload may create it at any moment.
    await _ensure_meter(db, workspace.id, period)
    if (await db.execute(charge)).rowcount == 1:  # type: ignore[attr-defined]
        return
    current = await read_usage(db, settings, workspace)
    raise quota_error(settings, current)


async def _ensure_meter(db: AsyncSession, workspace_id: str, period: str) -> None:
    """Create the workspace's meter unless it has one. On PostgreSQL an insert racing another
    transaction's uncommitted insert waits for it, so once this returns the row is visible to
    the next statement (read committed)."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(UsageMeter)
        .values(workspace_id=workspace_id, period=period, uploads=0, storage_bytes=0, images=0)
        .on_conflict_do_nothing(index_elements=["workspace_id"])
    )


async def release(db: AsyncSession, workspace_id: str, size: int, images: int = 1) -> None:
    """Deleted images free their storage (the month's upload count stays), in the caller's
    transaction."""
    if size <= 0 and images <= 0:
        return
    await db.execute(
        update(UsageMeter)
        .where(UsageMeter.workspace_id == workspace_id)
        .values(
            storage_bytes=case(
                (UsageMeter.storage_bytes > size, UsageMeter.storage_bytes - size), else_=0
            ),
            images=case((UsageMeter.images > images, UsageMeter.images - images), else_=0),
        )
        .execution_options(synchronize_session=False)
    )


def quota_error(settings: Settings, current: Usage) -> ApiError:
    """403 quota_exceeded with the usage and a signed upgrade link to the billing page."""
    plan = current.plan
    uploads_hit = current.uploads_full
    images_hit = not uploads_hit and current.images_full
    target = catalogue(settings).upgrade_for(
        plan,
        uploads=uploads_hit,
        storage=not (uploads_hit or images_hit),
        images=images_hit,
    )
    url = links.upgrade_url(
        settings.web_url,
        settings.signing_key,
        links.UpgradeTarget(current.workspace_id, target.id if target else None),
    )
    if uploads_hit:
        message = (
            f"This workspace has used all {plan.monthly_uploads:,} uploads of the {plan.name} "
            f"plan this month; the count starts again on {current.period[1]:%Y-%m-%d}."
        )
    elif images_hit:
        message = (
            f"This workspace stores all {plan.images:,} images of the {plan.name} plan; "
            "delete images or upgrade."
        )
    else:
        message = (
            f"This upload would go over the {storage_text(plan.storage_bytes)} of storage of the "
            f"{plan.name} plan; delete images or upgrade."
        )
    if target is None:
        label = "Manage billing"
    else:
        interval, price = next(iter(target.prices.items()))
        per = "mo" if interval == "monthly" else "yr"
        if uploads_hit:
            gain = f"{target.monthly_uploads:,} uploads a month"
        elif images_hit:
            gain = "unlimited images" if target.images is None else f"{target.images:,} images"
        else:
            gain = f"{storage_text(target.storage_bytes)} of storage"
        label = f"Upgrade to {target.name} ({price_label(price)}/{per}) for {gain}"
    return ApiError(
        "quota_exceeded",
        message,
        usage=current.for_error(),
        action={"type": "upgrade", "url": url, "label": label},
    )
