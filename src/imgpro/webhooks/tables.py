"""An app's webhook endpoint, and the outbox of events to deliver to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, StrEnumColumn, UTCDateTime, utcnow


class MessageStatus(StrEnum):
    PENDING = "pending"  # due now or at next_attempt_at
    DELIVERED = "delivered"
    FAILED = "failed"  # after the last retry, or its endpoint was removed


class WebhookEndpoint(Base):
    """One per app. The signing secret is kept as it is: HMAC needs it (as Stripe and Svix do)."""

    __tablename__ = "webhook_endpoints"

    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookMessage(Base):
    """One event for one app: written in the transaction of the change that caused it, then
    claimed by a node (`next_attempt_at` pushed past the attempt: a lease), sent, and marked."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_due", "status", "next_attempt_at"),
        Index("ix_webhook_messages_app_created", "app_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the webhook-id, msg_...
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent on every attempt
    status: Mapped[MessageStatus] = mapped_column(
        StrEnumColumn(MessageStatus), default=MessageStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_response: Mapped[str | None] = mapped_column(String(200))  # "200", "503", or why none
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
