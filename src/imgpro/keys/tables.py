"""API keys: stored only as a SHA-256 hash, with read/write abilities. A personal key acts on
its user's personal workspace; an app key (`app_id` set) on the App's own workspace, and with
`access = "app-wide"` also for the app's connected users (X-Img-User)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, UTCDateTime, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # the app an app key belongs to; the key's workspace is then that app's own workspace
    app_id: Mapped[str | None] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), index=True
    )
    access: Mapped[str | None] = mapped_column(String(16))  # app keys: "app" | "app-wide"
    name: Mapped[str] = mapped_column(String(64), default="")
    hint: Mapped[str] = mapped_column(String(32))  # shown in lists: "img_live_ab…yz"
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    abilities: Mapped[str] = mapped_column(String(32))  # "read", "write" or "read,write"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
