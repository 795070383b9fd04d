"""Where the CDN keeps an image's blobs, and the small sidecar that lets it serve without the
database: `{shard}/{id}/original.{ext}`, `{shard}/{id}/meta.json`, `{shard}/{id}/v/...`."""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass


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

    def dumps(self) -> builtins.bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def loads(cls, data: builtins.bytes) -> OriginalMeta:
        return cls(**json.loads(data))


def image_prefix(shard: str, image_id: str) -> str:
    return f"{shard}/{image_id}/"


def original_key(shard: str, image_id: str, fmt: str) -> str:
    return f"{shard}/{image_id}/original.{fmt}"


def meta_key(shard: str, image_id: str) -> str:
    return f"{shard}/{image_id}/meta.json"


def variant_key(shard: str, image_id: str, digest: str, fmt: str) -> str:
    return f"{shard}/{image_id}/v/{digest}.{fmt}"
