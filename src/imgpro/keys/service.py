"""API keys: `img_live_` + 32 base-62 characters, stored as SHA-256, abilities read/write.

A personal key acts on its user's personal workspace. An app key belongs to an app and acts on
the app's own workspace; its data access is `app` ("App storage only") or `app-wide` (also
`X-Img-User` for the app's connected users) — decisions.md §10.

Who commits: the use cases (create_personal_key, revoke_key) commit; create_key is also a step
of an app key's creation and runs in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro import tokens
from imgpro.accounts import service as accounts
from imgpro.accounts.tables import User, Workspace
from imgpro.db.base import utcnow
from imgpro.errors import invalid
from imgpro.ids import is_id, new_id
from imgpro.keys.tables import ApiKey

PREFIX = "img_live_"
ABILITIES = frozenset({"read", "write"})
APP_STORAGE = "app"  # "App storage only"
APP_WIDE = "app-wide"
ACCESS = (APP_STORAGE, APP_WIDE)


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the secret is in `key` and is never shown again."""

    record: ApiKey
    key: str


def hash_secret(secret: str) -> str:
    # a fast hash is right here: the secret is 190 random bits, not a password
    return tokens.digest(secret)


def parse_abilities(text: str) -> frozenset[str]:
    abilities = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not abilities or not abilities <= ABILITIES:
        raise invalid("abilities", "Abilities are read, write or read,write.")
    return abilities


def parse_access(text: str) -> str:
    if text not in ACCESS:
        raise invalid("access", "Data access is app (App storage only) or app-wide.")
    return text


async def create_key(
    db: AsyncSession,
    user: User,
    workspace: Workspace,
    abilities: frozenset[str],
    name: str = "",
    *,
    access: str | None = None,
) -> IssuedKey:
    """A key on `workspace`: the user's personal one, or (with `access`) an app's own workspace,
    which makes it a key of that app. Runs in the caller's transaction: the caller commits."""
    secret = PREFIX + tokens.random_string(32, tokens.BASE62)
    record = ApiKey(
        id=new_id(),
        workspace_id=workspace.id,
        user_id=user.id,
        app_id=workspace.app_id if access else None,
        access=access,
        name=name[:64],
        hint=f"{secret[:13]}…{secret[-4:]}",
        secret_hash=hash_secret(secret),
        abilities=",".join(sorted(abilities)),
    )
    db.add(record)
    await db.flush()
    return IssuedKey(record=record, key=secret)


async def create_personal_key(
    db: AsyncSession, user: User, abilities: frozenset[str], name: str = ""
) -> IssuedKey:
    """A key on the user's personal workspace; commits."""
    workspace = await accounts.personal_workspace(db, user.id)
    issued = await create_key(db, user, workspace, abilities, name)
    await db.commit()
    return issued


async def find_active_key(db: AsyncSession, secret: str) -> ApiKey | None:
    """The live key with this secret: looked up by hash (a unique index, so the comparison
    never touches the secret itself)."""
    return (
        await db.execute(
            select(ApiKey).where(
                ApiKey.secret_hash == hash_secret(secret), ApiKey.revoked_at.is_(None)
            )
        )
    ).scalar()


async def list_keys(db: AsyncSession, user_id: str, app_id: str | None = None) -> list[ApiKey]:
    """The user's live personal keys, or (with `app_id`) that app's keys."""
    rows = await db.execute(
        select(ApiKey)
        .where(
            ApiKey.user_id == user_id,
            ApiKey.app_id.is_(None) if app_id is None else ApiKey.app_id == app_id,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.created_at.desc())
    )
    return list(rows.scalars())


async def revoke_key(
    db: AsyncSession, user_id: str, key_id: str, app_id: str | None = None
) -> bool:
    """Revoke one of the user's personal keys, or (with `app_id`) one of that app's keys;
    commits."""
    key = await db.get(ApiKey, key_id) if is_id(key_id) else None
    if key is None or key.user_id != user_id or key.app_id != app_id or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    await db.commit()
    return True
