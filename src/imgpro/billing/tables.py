"""Billing state: each workspace's usage meter and subscription, checkouts, provider events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, StrEnumColumn, UTCDateTime, utcnow


class SubscriptionStatus(StrEnum):
    """Ours, not the provider's: webhooks map Stripe's statuses onto these three."""

    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class CheckoutStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELED = "canceled"


class UsageMeter(Base):
    """What a workspace has used, kept exact by conditional updates (never by counting rows):
    uploads in `period` (the month, "2026-11"), bytes and images stored now."""

    __tablename__ = "usage_meters"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7))
    uploads: Mapped[int] = mapped_column(Integer, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)


class Subscription(Base):
    """A workspace's paid subscription as its provider last told us (the plan itself lives on
    the workspace). `last_event_at` orders provider events: older ones are ignored."""

    __tablename__ = "subscriptions"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(16))  # local | stripe
    plan: Mapped[str] = mapped_column(String(16))
    interval: Mapped[str] = mapped_column(String(8))  # monthly | annual
    status: Mapped[SubscriptionStatus] = mapped_column(StrEnumColumn(SubscriptionStatus))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    last_event_at: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Checkout(Base):
    """A started checkout. For the local provider its URL carries a random token (stored as a
    hash) that is the only credential of the test payment page."""

    __tablename__ = "checkouts"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    interval: Mapped[str] = mapped_column(String(8))
    return_url: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[CheckoutStatus] = mapped_column(
        StrEnumColumn(CheckoutStatus), default=CheckoutStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventOutcome(StrEnum):
    """What processing a provider event did; the webhook endpoint answers it."""

    RECEIVED = "received"  # stored first, so a second delivery of the event waits, then fails
    APPLIED = "applied"
    STALE = "stale"  # older than what is known, or news after the subscription ended
    IGNORED = "ignored"  # not ours, or a kind of event nothing here acts on
    DUPLICATE = "duplicate"  # applied before (answered, never stored)


class BillingEvent(Base):
    """A provider event already processed: each event id is applied once."""

    __tablename__ = "billing_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[EventOutcome] = mapped_column(StrEnumColumn(EventOutcome, 32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
