"""Images and their filterable labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from imgpro.db.base import Base, UTCDateTime, utcnow


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_workspace_created", "workspace_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    shard: Mapped[str] = mapped_column(String(3))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    animated: Mapped[bool] = mapped_column(Boolean, default=False)
    transformable: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    nsfw: Mapped[bool] = mapped_column(Boolean, default=False)
    caption: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # {"thumbhash", "color"}; None for SVG, and for images stored before until the backfill
    placeholder: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    blob_key: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageLabel(Base):
    """One label of an image, in its own row so `label[k]=v` filters use an index."""

    __tablename__ = "image_labels"
    __table_args__ = (Index("ix_image_labels_key_value", "key", "value"),)

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
