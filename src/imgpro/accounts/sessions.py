"""Server-side web sessions: the cookie carries a random token, the table its SHA-256; 30 days,
sliding; revocable (sign out, account deletion).

Who commits: start, end, and resolve when it slides or drops a session: each is a unit of work
of its own, done before the page's work starts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro import tokens
from imgpro.accounts.tables import User, UserStatus, WebSession
from imgpro.db.base import utcnow

LIFETIME = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=10)  # how stale last_seen may be before a write slides it


def _hash(token: str) -> str:
    return tokens.digest(token)


async def start(db: AsyncSession, user: User) -> str:
    """A new session for `user`; returns the cookie token (shown to the browser only)."""
    token = tokens.url_token()
    now = utcnow()
    db.add(
        WebSession(id=_hash(token), user_id=user.id, last_seen_at=now, expires_at=now + LIFETIME)
    )
    await db.commit()
    return token


async def resolve(db: AsyncSession, token: str | None) -> User | None:
    """The active user signed in with `token`, sliding the session's expiry."""
    if not token or len(token) > 128:
        return None
    session = await db.get(WebSession, _hash(token))
    now = utcnow()
    if session is None:
        return None
    if session.expires_at <= now:
        await db.delete(session)
        await db.commit()
        return None
    user = await db.get(User, session.user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        return None
    if now - session.last_seen_at > TOUCH_EVERY:
        session.last_seen_at = now
        session.expires_at = now + LIFETIME
        await db.commit()
    return user


async def end(db: AsyncSession, token: str | None) -> None:
    if token:
        await db.execute(delete(WebSession).where(WebSession.id == _hash(token)))
        await db.commit()
