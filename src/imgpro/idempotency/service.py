"""Idempotency-Key: the same key and request within 24 hours answers the first response."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imgpro.db.base import utcnow
from imgpro.errors import ApiError, invalid
from imgpro.idempotency.tables import IdempotencyRecord, RecordState

WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: str


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise invalid("Idempotency-Key", f"Idempotency-Key is 1–{MAX_KEY_LENGTH} printable chars.")
    return key


async def begin(
    sessions: async_sessionmaker[AsyncSession], scope: str, key: str, request_hash: str
) -> Replay | None:
    """Claim the key (None: go ahead), or the first response to replay; in its own transaction
    so a concurrent request with the same key sees the claim at once."""
    async with sessions() as db:
        await db.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.created_at < utcnow() - WINDOW,
            )
        )
        db.add(IdempotencyRecord(scope=scope, key=key, request_hash=request_hash))
        try:
            await db.commit()
            return None
        except IntegrityError:
            await db.rollback()
        record = (
            await db.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
        ).scalar_one()
    if record.request_hash != request_hash:
        raise ApiError("idempotency_key_conflict")
    if (
        record.state != RecordState.DONE
        or record.status_code is None
        or record.response_body is None
    ):
        raise ApiError("idempotency_key_in_progress", headers={"Retry-After": "1"})
    return Replay(record.status_code, record.response_body)


async def finish(
    sessions: async_sessionmaker[AsyncSession], scope: str, key: str, status_code: int, body: str
) -> None:
    async with sessions() as db:
        record = (
            await db.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
        ).scalar_one()
        record.state, record.status_code, record.response_body = RecordState.DONE, status_code, body
        await db.commit()


async def abandon(sessions: async_sessionmaker[AsyncSession], scope: str, key: str) -> None:
    """The first request failed: release the key so a retry can run."""
    async with sessions() as db:
        await db.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == RecordState.RUNNING,
            )
        )
        await db.commit()


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str,
    request_hash: str,
    produce: Callable[[], Awaitable[tuple[int, str]]],
) -> tuple[int, str]:
    """Run `produce` once per (scope, key): a retry gets the first (status, body) back. A
    failure releases the key, so a corrected retry may run."""
    replay = await begin(sessions, scope, key, request_hash)
    if replay is not None:
        return replay.status_code, replay.body
    try:
        status_code, body = await produce()
    except BaseException:
        await abandon(sessions, scope, key)
        raise
    await finish(sessions, scope, key, status_code, body)
    return status_code, body
