"""Where the CDN keeps an image's blobs, and the small sidecar that lets it serve without the
database: `{shard}/{id}/original.{ext}`, `{shard}/{id}/meta.json`, `{shard}/{id}/v/...`, and for a
large still `{shard}/{id}/work.{ext}`, its working copy (see `imgpro.media.working_copy`), in a
format of its own (`work.jpg` beside `original.webp`)."""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class OriginalMeta:
    format: str
    content_type: str
    etag: str
    bytes: int
    width: int
    height: int
    frames: int
    transformable: bool
    expires_at: float | None  # unix seconds; None = permanent
    work_width: int | None = None  # the working copy's size; None = there is none
    work_height: int | None = None
    work_format: str | None = None  # None: the original's (sidecars written before it existed)

    @property
    def working_size(self) -> tuple[int, int] | None:
        if self.work_width is None or self.work_height is None:
            return None
        return self.work_width, self.work_height

    @property
    def working_format(self) -> str:
        """The working copy's format (meaningful when there is one)."""
        return self.work_format or self.format

    def dumps(self) -> builtins.bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def loads(cls, data: builtins.bytes) -> OriginalMeta:
        known = {field.name for field in fields(cls)}  # a newer writer's extra fields are ignored
        return cls(**{name: value for name, value in json.loads(data).items() if name in known})


def image_prefix(shard: str, image_id: str) -> str:
    return f"{shard}/{image_id}/"


def original_key(shard: str, image_id: str, fmt: str) -> str:
    return f"{shard}/{image_id}/original.{fmt}"


def work_key(shard: str, image_id: str, fmt: str) -> str:
    return f"{shard}/{image_id}/work.{fmt}"


def meta_key(shard: str, image_id: str) -> str:
    return f"{shard}/{image_id}/meta.json"


def variant_key(shard: str, image_id: str, digest: str, fmt: str) -> str:
    return f"{shard}/{image_id}/v/{digest}.{fmt}"
