"""Arrange and inspect billing state of a running stack through the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import Workspace
from imgpro.billing.plans import period_key
from imgpro.billing.tables import Subscription, UsageMeter
from imgpro.db.base import utcnow
from imgpro.runtime import Runtime
from tests.conftest import Person, Stack


def personal_workspace_id(stack: Stack, person: Person) -> str:
    async def work(rt: Runtime) -> str:
        async with rt.sessions() as db:
            return (await accounts.personal_workspace(db, person.id)).id

    return stack.run(work)


def set_usage(
    stack: Stack,
    workspace_id: str,
    *,
    uploads: int | None = None,
    storage_bytes: int | None = None,
    images: int | None = None,
    period: str | None = None,
) -> None:
    """Put the meter where a test needs it (as if earlier uploads had happened)."""

    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            meter = await db.get(UsageMeter, workspace_id)
            if meter is None:
                meter = UsageMeter(
                    workspace_id=workspace_id,
                    period=period_key(utcnow()),
                    uploads=0,
                    storage_bytes=0,
                    images=0,
                )
                db.add(meter)
            if uploads is not None:
                meter.uploads = uploads
            if storage_bytes is not None:
                meter.storage_bytes = storage_bytes
            if images is not None:
                meter.images = images
            if period is not None:
                meter.period = period
            await db.commit()

    stack.run(work)


def set_plan(stack: Stack, workspace_id: str, plan: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            workspace = await db.get(Workspace, workspace_id)
            assert workspace is not None
            workspace.plan = plan
            await db.commit()

    stack.run(work)


def subscription(stack: Stack, workspace_id: str) -> dict[str, Any] | None:
    async def work(rt: Runtime) -> dict[str, Any] | None:
        async with rt.sessions() as db:
            row = await db.get(Subscription, workspace_id)
            if row is None:
                return None
            return {c.name: getattr(row, c.name) for c in Subscription.__table__.columns}

    return stack.run(work)


def set_period_end(stack: Stack, workspace_id: str, when: datetime) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            row = await db.get(Subscription, workspace_id)
            assert row is not None
            row.current_period_end = when
            await db.commit()

    stack.run(work)


def usage(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/usage")
    assert response.status_code == 200, response.text
    return dict(response.json())
