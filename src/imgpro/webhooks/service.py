"""Webhooks to apps: endpoints (set, remove, rotate), events into the outbox, and the outbox's
work queue (claim what is due, record each attempt).

Events are added to the caller's session and commit with the change that caused them, so an
event exists exactly when its change does (nothing is lost if the process dies next). Delivery
(:mod:`imgpro.webhooks.delivery`) then claims due messages: on PostgreSQL the candidates are
read with `FOR UPDATE SKIP LOCKED`, so concurrent nodes take different rows without waiting;
each claim is also a conditional UPDATE (still pending, still due), which is what keeps SQLite's
processes apart. A claim pushes `next_attempt_at` past the attempt's timeout, so a node that dies
mid-attempt leaves the message to be retried, never lost.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import Workspace
from imgpro.db.base import isoformat, utcnow
from imgpro.images import fetch
from imgpro.settings import Settings
from imgpro.webhooks import signing
from imgpro.webhooks.tables import MessageStatus, WebhookEndpoint, WebhookMessage

#: session.info key: this transaction queued events (delivery wakes up after its commit)
QUEUED = "webhooks_queued"
TEST_EVENT = "webhook.test"
RECENT = 50
KEEP = timedelta(days=30)  # how long sent and failed messages stay listed on the App page


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str | None  # only right after it was made (set or rotated): shown once


@dataclass(frozen=True)
class Claimed:
    """A message this node is now attempting."""

    id: str
    app_id: str
    attempt: int
    body: bytes
    url: str
    secret: str


# ---- endpoints ----------------------------------------------------------------------------


async def endpoint_of(db: AsyncSession, app_id: str) -> WebhookEndpoint | None:
    return await db.get(WebhookEndpoint, app_id)


async def set_endpoint(db: AsyncSession, settings: Settings, app_id: str, url: str) -> Endpoint:
    """Point the app's webhooks at `url` (an empty one removes the endpoint). A new endpoint
    gets a new secret; changing the URL keeps the secret. Refused like a URL import when the
    URL names or resolves to a non-public address."""
    url = url.strip()
    found = await endpoint_of(db, app_id)
    if not url:
        if found is not None:
            await db.delete(found)
            await db.commit()
        return Endpoint("", None)
    await fetch.check_url(url, allowed_networks(settings))
    secret = None
    if found is None:
        secret = signing.new_secret()
        found = WebhookEndpoint(app_id=app_id, url=url, secret=secret)
        db.add(found)
    found.url, found.updated_at = url, utcnow()
    await db.commit()
    return Endpoint(url, secret)


async def rotate_secret(db: AsyncSession, app_id: str) -> Endpoint | None:
    """A new signing secret; messages not yet sent are signed with it. None without endpoint."""
    found = await endpoint_of(db, app_id)
    if found is None:
        return None
    found.secret, found.updated_at = signing.new_secret(), utcnow()
    await db.commit()
    return Endpoint(found.url, found.secret)


def allowed_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net) for net in settings.import_allow_networks]


# ---- events into the outbox ------------------------------------------------------------------


def user_ref(user_id: str) -> dict[str, str]:
    return {"id": user_id, "object": "user"}


async def emit(db: AsyncSession, workspace: Workspace, kind: str, **data: Any) -> None:
    """Queue `kind` for the app this workspace belongs to (none for personal and anonymous
    workspaces), in the caller's transaction: the caller's commit writes it."""
    if workspace.app_id is not None and workspace.user_id is not None:
        await emit_to_app(db, workspace.app_id, kind, user=user_ref(workspace.user_id), **data)


async def emit_to_app(db: AsyncSession, app_id: str, kind: str, **data: Any) -> str | None:
    """Queue `kind` with `data` for the app if it has an endpoint; the message id."""
    if await endpoint_of(db, app_id) is None:
        return None
    now = utcnow()
    body = {"type": kind, "timestamp": isoformat(now), "data": data}
    message = WebhookMessage(
        id=signing.new_message_id(),
        app_id=app_id,
        type=kind,
        body=json.dumps(body, separators=(",", ":")),
        status=MessageStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    db.add(message)
    db.info[QUEUED] = True
    return message.id


async def emit_user_gone(db: AsyncSession, user_id: str, workspaces: Sequence[Workspace]) -> None:
    """`user.deleted` to every app the user has a workspace in (connected now or before)."""
    for app_id in sorted({w.app_id for w in workspaces if w.app_id is not None}):
        await emit_to_app(db, app_id, "user.deleted", user=user_ref(user_id))


async def send_test(db: AsyncSession, app_id: str) -> str | None:
    """Queue a `webhook.test` event; None when the app has no endpoint."""
    message_id = await emit_to_app(db, app_id, TEST_EVENT, test=True)
    await db.commit()
    return message_id


# ---- the work queue ---------------------------------------------------------------------------


async def claim(db: AsyncSession, lease: timedelta, limit: int) -> list[Claimed]:
    """Take up to `limit` due messages for one attempt each."""
    now = utcnow()
    candidates = list(
        (
            await db.execute(
                select(WebhookMessage.id)
                .where(
                    WebhookMessage.status == MessageStatus.PENDING,
                    WebhookMessage.next_attempt_at <= now,
                )
                .order_by(WebhookMessage.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    taken = []
    for message_id in candidates:
        result = await db.execute(
            update(WebhookMessage)
            .where(
                WebhookMessage.id == message_id,
                WebhookMessage.status == MessageStatus.PENDING,
                WebhookMessage.next_attempt_at <= now,
            )
            .values(
                attempts=WebhookMessage.attempts + 1,
                next_attempt_at=now + lease,
                last_attempt_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            taken.append(message_id)
    rows = (
        await db.execute(
            select(WebhookMessage, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.app_id == WebhookMessage.app_id, isouter=True)
            .where(WebhookMessage.id.in_(taken))
        )
    ).all()
    await db.commit()
    claimed = []
    for message, endpoint in rows:
        if endpoint is None:  # the endpoint was removed since: nobody to tell
            await _finish(
                db, message.id, message.attempts, MessageStatus.FAILED, "no endpoint", None
            )
            continue
        claimed.append(
            Claimed(
                message.id,
                message.app_id,
                message.attempts,
                message.body.encode(),
                endpoint.url,
                endpoint.secret,
            )
        )
    return claimed


async def record(
    db: AsyncSession, claimed: Claimed, ok: bool, response: str, retry_seconds: Sequence[float]
) -> MessageStatus:
    """The outcome of one attempt: delivered, retried later on the schedule, or failed after
    the last retry. Returns the message's new status."""
    if ok:
        return await _finish(db, claimed.id, None, MessageStatus.DELIVERED, response, None)
    if claimed.attempt > len(retry_seconds):
        return await _finish(db, claimed.id, claimed.attempt, MessageStatus.FAILED, response, None)
    retry_at = utcnow() + timedelta(seconds=retry_seconds[claimed.attempt - 1])
    return await _finish(db, claimed.id, claimed.attempt, MessageStatus.PENDING, response, retry_at)


async def _finish(
    db: AsyncSession,
    message_id: str,
    attempt: int | None,
    status: MessageStatus,
    response: str,
    next_attempt_at: datetime | None,
) -> MessageStatus:
    # a failure counts only while this node's attempt is the latest (its lease may have run out
    # and another node tried again); a success counts always
    query = update(WebhookMessage).where(
        WebhookMessage.id == message_id, WebhookMessage.status == MessageStatus.PENDING
    )
    if attempt is not None:
        query = query.where(WebhookMessage.attempts == attempt)
    await db.execute(
        query.values(
            status=status, last_response=response[:200], next_attempt_at=next_attempt_at
        ).execution_options(synchronize_session=False)
    )
    await db.commit()
    return status


async def prune(db: AsyncSession, older_than: timedelta = KEEP) -> int:
    """Forget delivered and failed messages older than `older_than`; how many went."""
    result = await db.execute(
        delete(WebhookMessage).where(
            WebhookMessage.status != MessageStatus.PENDING,
            WebhookMessage.created_at < utcnow() - older_than,
        )
    )
    await db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def recent(db: AsyncSession, app_id: str, limit: int = RECENT) -> list[WebhookMessage]:
    rows = await db.execute(
        select(WebhookMessage)
        .where(WebhookMessage.app_id == app_id)
        .order_by(WebhookMessage.created_at.desc(), WebhookMessage.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())
