"""Users, their workspaces, sign-in codes and web sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, StrEnumColumn, UTCDateTime, utcnow


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # by an admin: keys, sessions and app access stop working


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[UserStatus] = mapped_column(StrEnumColumn(UserStatus), default=UserStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkspaceKind(StrEnum):
    PERSONAL = "personal"  # a user's own; their API keys act here
    APP = "app"  # one per user connected to an app
    APP_STORAGE = "app_storage"  # an app's own; its app keys act here
    ANONYMOUS = "anonymous"  # the shared pool of anonymous uploads
    DOCS = "docs"  # the docs' sample image


class Workspace(Base):
    """Where images and a plan live: a user's personal one, one per connected app, an app's
    own storage (its app keys act there; its owner manages the plan), or the shared
    anonymous pool."""

    __tablename__ = "workspaces"
    __table_args__ = (
        UniqueConstraint("user_id", "app_id", name="uq_workspaces_user_app"),
        # one own workspace per app (user_id is NULL there, so the constraint above can't say it)
        Index(
            "uq_workspaces_app_storage",
            "app_id",
            unique=True,
            sqlite_where=text("kind = 'app_storage'"),
            postgresql_where=text("kind = 'app_storage'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    # a storage partition in CDN paths; 3 characters can't name every workspace, so shared
    shard: Mapped[str] = mapped_column(String(3))
    kind: Mapped[WorkspaceKind] = mapped_column(StrEnumColumn(WorkspaceKind))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[str | None] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), index=True
    )
    plan: Mapped[str] = mapped_column(String(16), default="free")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignInCode(Base):
    """An emailed one-time sign-in code: 6 digits, stored only as a keyed hash."""

    __tablename__ = "sign_in_codes"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser; the cookie holds a random token, the row only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
