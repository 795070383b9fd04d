"""Remembered results of POSTs made with an Idempotency-Key (24 hours)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, StrEnumColumn, UTCDateTime, utcnow


class RecordState(StrEnum):
    RUNNING = "running"  # the first request with the key is still at work
    DONE = "done"  # its answer is stored and replayed


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))  # the credential or client address
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[RecordState] = mapped_column(
        StrEnumColumn(RecordState), default=RecordState.RUNNING
    )
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
