"""The real shapes of /v1/images and /v1/usage: request models parse the bodies, response models
build the answers, and both are what /openapi.json documents.

Every limit comes from `images.fields` (the one place that defines it), so the schema, the
parser and the docs cannot disagree. `ImageOut.of` copies every field the table shares with the
model by name: adding an Image field is a column (plus its migration) and a field here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from imgpro.billing import meter
from imgpro.db.base import isoformat
from imgpro.ids import ID_PATTERN
from imgpro.images import fields as limits
from imgpro.images.tables import Image
from imgpro.media.transform import named_size
from imgpro.settings import Settings

SIZE_NAMES = (("small", "s"), ("medium", "m"), ("large", "l"))

Timestamp = Annotated[
    datetime, PlainSerializer(isoformat, return_type=str), Field(examples=["2026-11-29T08:00:00Z"])
]
ImageId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Caption = Annotated[
    str, StringConstraints(max_length=limits.MAX_CAPTION, pattern=limits.NO_NUL_PATTERN)
]
LabelKey = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=limits.MAX_LABEL_KEY, pattern=limits.LABEL_KEY_PATTERN
    ),
]
LabelValue = Annotated[
    str, StringConstraints(max_length=limits.MAX_LABEL_VALUE, pattern=limits.NO_NUL_PATTERN)
]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(max_length=limits.MAX_LABELS),
    # pydantic would write the key pattern as patternProperties, leaving other keys open
    WithJsonSchema(
        {
            "type": "object",
            "description": f"At most {limits.MAX_LABELS} string labels.",
            "maxProperties": limits.MAX_LABELS,
            "propertyNames": {
                "minLength": 1,
                "maxLength": limits.MAX_LABEL_KEY,
                "pattern": limits.LABEL_KEY_PATTERN,
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": limits.MAX_LABEL_VALUE,
                "pattern": limits.NO_NUL_PATTERN,
            },
        }
    ),
]
Metadata = Annotated[
    dict[str, JsonValue],
    AfterValidator(limits.parse_metadata),
    Field(
        description=f"Any JSON object up to {limits.MAX_METADATA_BYTES // 1024} KB, without NUL.",
    ),
]


def image_url(settings: Settings, image: Image) -> str:
    return f"{settings.cdn_url}/{image.shard}/{image.id}.{image.format}"


class SizeOut(BaseModel):
    url: str
    width: int
    height: int


IMAGE_EXAMPLE: dict[str, Any] = {
    "id": "k3Xa9QpZ",
    "object": "image",
    "url": "https://src.img.pro/a1b/k3Xa9QpZ.jpg",
    "page_url": "https://img.pro/k3Xa9QpZ",
    "sizes": {
        "small": {
            "url": "https://src.img.pro/a1b/k3Xa9QpZ.jpg?size=s",
            "width": 480,
            "height": 320,
        },
        "medium": {
            "url": "https://src.img.pro/a1b/k3Xa9QpZ.jpg?size=m",
            "width": 960,
            "height": 640,
        },
        "large": {
            "url": "https://src.img.pro/a1b/k3Xa9QpZ.jpg?size=l",
            "width": 1620,
            "height": 1080,
        },
    },
    "filename": "harbour.jpg",
    "format": "jpg",
    "width": 3000,
    "height": 2000,
    "bytes": 1843200,
    "transformable": True,
    "status": "ready",
    "public": True,
    "published_at": "2026-11-29T08:00:00Z",
    # FastAPI leaves nulls out of the document, so the example is an expiring (anonymous) upload
    "expires_at": "2026-12-29T08:00:00Z",
    "created_at": "2026-11-29T08:00:00Z",
    "caption": "Boats at dawn",
    "metadata": {"album": "summer"},
    "labels": {"site": "blog"},
    "nsfw": False,
    "placeholder": {"thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI", "color": "#6b8fa3"},
}


class PlaceholderOut(BaseModel):
    """What to show until the image loads (decisions.md §8); the Image's is null for SVG."""

    model_config = ConfigDict(title="Placeholder")

    thumbhash: str = Field(description="Base64 ThumbHash of the stored pixels (first frame).")
    color: str = Field(description="The dominant colour, #rrggbb.", pattern="^#[0-9a-f]{6}$")


class ImageOut(BaseModel):
    """The Image object: every field on every response."""

    model_config = ConfigDict(title="Image", json_schema_extra={"examples": [IMAGE_EXAMPLE]})

    id: str
    object: Literal["image"] = "image"
    url: str
    page_url: str
    sizes: dict[Literal["small", "medium", "large"], SizeOut]
    filename: str
    format: str
    width: int | None
    height: int | None
    bytes: int | None
    transformable: bool
    status: str
    public: bool
    published_at: Timestamp | None
    expires_at: Timestamp | None
    created_at: Timestamp
    caption: str | None
    metadata: dict[str, Any]
    labels: dict[str, str]
    nsfw: bool
    placeholder: PlaceholderOut | None

    @classmethod
    def of(cls, settings: Settings, image: Image) -> ImageOut:
        url = image_url(settings, image)
        sizes: dict[str, SizeOut] = {}
        if image.transformable:
            for name, code in SIZE_NAMES:
                width, height = named_size(image.width, image.height, code)
                sizes[name] = SizeOut(url=f"{url}?size={code}", width=width, height=height)
        # the table's columns of the same name, then what is computed from them
        shared = {name: getattr(image, name) for name in cls.model_fields if hasattr(image, name)}
        return cls.model_validate(
            {
                **shared,
                "url": url,
                "page_url": f"{settings.web_url}/{image.id}",
                "sizes": sizes,
                "metadata": image.meta or {},
                "labels": image.labels or {},
            }
        )


def image_object(settings: Settings, image: Image) -> dict[str, Any]:
    """The Image object as JSON-ready data, for pages that embed it."""
    return ImageOut.of(settings, image).model_dump(mode="json")


class Pagination(BaseModel):
    has_more: bool
    next_cursor: str | None


class ImageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ImageOut]
    pagination: Pagination


class Deleted(BaseModel):
    id: str
    object: Literal["image"] = "image"
    deleted: Literal[True] = True


class BatchResult(BaseModel):
    object: Literal["batch_result"] = "batch_result"
    data: list[Deleted]
    errors: list[dict[str, Any]] = Field(
        description="Always empty: ids that are not the caller's are skipped, never reported."
    )


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("send true or false, or leave the field out")
    return value


class ImageFields(BaseModel):
    """The fields a caller sets on create (JSON or multipart) and changes with PATCH.

    Absent means "leave as is"; null clears caption, labels and metadata."""

    model_config = ConfigDict(extra="forbid", strict=True)

    caption: Caption | None = None
    labels: Labels | None = None
    metadata: Metadata | None = None
    public: bool = Field(
        default=True,
        description="Private images need an API key; an app's images are always public.",
    )

    _public_not_null = field_validator("public", mode="before")(_not_null)


class ImportBody(ImageFields):
    """JSON body of POST /v1/images: import the image at `url`."""

    url: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Address of a public http(s) image."
    )


class ImagePatch(ImageFields):
    """JSON body of PATCH /v1/images/{image_id}."""


class BatchDeleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[ImageId] = Field(min_length=1, max_length=limits.MAX_BATCH_IDS)


def multipart_body() -> dict[str, Any]:
    """POST /v1/images as multipart: the file part plus the fields of ImageFields as text."""
    return {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "caption": {
                        "type": "string",
                        "maxLength": limits.MAX_CAPTION,
                        "pattern": limits.NO_NUL_PATTERN,
                    },
                    "public": {"type": "string", "enum": ["true", "false"]},
                    "labels": {
                        "type": "string",
                        "description": "JSON object of string labels (see the JSON body).",
                        "contentMediaType": "application/json",
                    },
                    "metadata": {
                        "type": "string",
                        "description": "JSON object (see the JSON body).",
                        "contentMediaType": "application/json",
                    },
                },
            }
        }
    }


class UsageCounter(BaseModel):
    used: int
    limit: int | None


class UsagePeriod(BaseModel):
    start: Timestamp
    end: Timestamp


class UsageLimits(BaseModel):
    monthly_uploads: UsageCounter
    storage_bytes: UsageCounter
    images: UsageCounter


class UsageTotals(BaseModel):
    images_stored: int


class Usage(BaseModel):
    object: Literal["usage"] = "usage"
    plan: str
    period: UsagePeriod
    limits: UsageLimits
    limits_enforced: bool = Field(description="Whether any limit of the plan applies here.")
    totals: UsageTotals

    @classmethod
    def of(cls, usage: meter.Usage) -> Usage:
        """The usage object of `GET /v1/usage` and `billing_status.usage`."""
        plan = usage.plan
        return cls(
            plan=plan.id,
            period=UsagePeriod(start=usage.period[0], end=usage.period[1]),
            limits=UsageLimits(
                monthly_uploads=UsageCounter(used=usage.uploads, limit=plan.monthly_uploads),
                storage_bytes=UsageCounter(used=usage.storage_bytes, limit=plan.storage_bytes),
                images=UsageCounter(used=usage.images, limit=plan.images),
            ),
            limits_enforced=usage.limits_enforced,
            totals=UsageTotals(images_stored=usage.images),
        )
