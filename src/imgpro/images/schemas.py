"""The Image object (every field on every response) and the other response shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imgpro.db.base import isoformat
from imgpro.images.tables import Image
from imgpro.media.transform import named_size
from imgpro.settings import Settings

SIZE_NAMES = (("small", "s"), ("medium", "m"), ("large", "l"))


def image_url(settings: Settings, image: Image) -> str:
    return f"{settings.cdn_url}/{image.shard}/{image.id}.{image.format}"


def image_object(settings: Settings, image: Image) -> dict[str, Any]:
    url = image_url(settings, image)
    sizes: dict[str, Any] = {}
    if image.transformable:
        for name, code in SIZE_NAMES:
            width, height = named_size(image.width, image.height, code)
            sizes[name] = {"url": f"{url}?size={code}", "width": width, "height": height}
    return {
        "id": image.id,
        "object": "image",
        "url": url,
        "page_url": f"{settings.web_url}/{image.id}",
        "sizes": sizes,
        "filename": image.filename,
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "transformable": image.transformable,
        "status": image.status,
        "public": image.public,
        "published_at": isoformat(image.published_at),
        "expires_at": isoformat(image.expires_at),
        "created_at": isoformat(image.created_at),
        "caption": image.caption,
        "metadata": image.meta or {},
        "labels": image.labels or {},
        "nsfw": image.nsfw,
        "placeholder": image.placeholder,
    }


# --- OpenAPI models (documentation of the shapes above; responses are built as dicts) ---


class SizeOut(BaseModel):
    url: str
    width: int
    height: int


class PlaceholderOut(BaseModel):
    """What to show until the image loads (decisions.md §8); the Image's is null for SVG."""

    model_config = ConfigDict(title="Placeholder")

    thumbhash: str = Field(description="Base64 ThumbHash of the stored pixels (first frame).")
    color: str = Field(description="The dominant colour, #rrggbb.", pattern="^#[0-9a-f]{6}$")


class ImageOut(BaseModel):
    model_config = ConfigDict(title="Image")

    id: str
    object: str = "image"
    url: str
    page_url: str
    sizes: dict[str, SizeOut]
    filename: str
    format: str
    width: int | None
    height: int | None
    bytes: int | None
    transformable: bool
    status: str
    public: bool
    published_at: str | None
    expires_at: str | None
    created_at: str
    caption: str | None
    metadata: dict[str, Any]
    labels: dict[str, str]
    nsfw: bool
    placeholder: PlaceholderOut | None


class Pagination(BaseModel):
    has_more: bool
    next_cursor: str | None


class ImageList(BaseModel):
    object: str = "list"
    data: list[ImageOut]
    pagination: Pagination


class Deleted(BaseModel):
    id: str
    object: str = "image"
    deleted: bool = True


class BatchError(BaseModel):
    id: str
    error: dict[str, str]


class BatchResult(BaseModel):
    object: str = "batch_result"
    data: list[Deleted]
    errors: list[BatchError]


class ImportBody(BaseModel):
    """JSON body of POST /v1/images when importing a URL."""

    url: str
    caption: str | None = None
    public: bool | None = None
    labels: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None


class ImagePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caption: str | None = None
    labels: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    public: bool | None = None


class BatchDeleteBody(BaseModel):
    ids: list[str]


class UsageCounter(BaseModel):
    used: int
    limit: int | None


class UsagePeriod(BaseModel):
    start: str
    end: str


class UsageLimits(BaseModel):
    monthly_uploads: UsageCounter
    storage_bytes: UsageCounter
    images: UsageCounter


class UsageTotals(BaseModel):
    images_stored: int


class Usage(BaseModel):
    object: str = "usage"
    plan: str
    period: UsagePeriod
    limits: UsageLimits
    limits_enforced: bool = Field(description="Whether any limit of the plan applies here.")
    totals: UsageTotals
