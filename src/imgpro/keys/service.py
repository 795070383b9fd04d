"""API keys: `img_live_` + 32 base-62 characters, stored as SHA-256, abilities read/write."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import User, Workspace
from imgpro.db.base import utcnow
from imgpro.errors import invalid
from imgpro.ids import new_id, random_token
from imgpro.keys.tables import ApiKey

PREFIX = "img_live_"
ABILITIES = frozenset({"read", "write"})
BASE62 = string.digits + string.ascii_letters


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the secret is in `key` and is never shown again."""

    record: ApiKey
    key: str


def hash_secret(secret: str) -> str:
    # a fast hash is right here: the secret is 190 random bits, not a password
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_abilities(text: str) -> frozenset[str]:
    abilities = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not abilities or not abilities <= ABILITIES:
        raise invalid("abilities", "Abilities are read, write or read,write.")
    return abilities


async def create_key(
    db: AsyncSession, user: User, workspace: Workspace, abilities: frozenset[str], name: str = ""
) -> IssuedKey:
    secret = PREFIX + random_token(32, BASE62)
    record = ApiKey(
        id=new_id(),
        workspace_id=workspace.id,
        user_id=user.id,
        name=name[:64],
        hint=f"{secret[:13]}…{secret[-4:]}",
        secret_hash=hash_secret(secret),
        abilities=",".join(sorted(abilities)),
    )
    db.add(record)
    await db.flush()
    return IssuedKey(record=record, key=secret)


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


async def list_keys(db: AsyncSession, user_id: str) -> list[ApiKey]:
    rows = await db.execute(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc())
    )
    return list(rows.scalars())


async def revoke_key(db: AsyncSession, user_id: str, key_id: str) -> bool:
    key = await db.get(ApiKey, key_id)
    if key is None or key.user_id != user_id or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    await db.flush()
    return True
