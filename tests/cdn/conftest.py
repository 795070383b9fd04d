"""CDN test helpers: upload through the API, or plant a blob straight in storage (as if it had
got past ingest), then drive `/src/...` over HTTP like a browser would."""

from __future__ import annotations

import httpx
import pytest

from imgpro.cdn import service as cdn
from imgpro.cdn.layout import OriginalMeta
from imgpro.ids import new_id, new_shard
from imgpro.runtime import Runtime
from tests.conftest import Stack

MAGIC = {
    "image/jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "image/png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda data: data[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "image/avif": lambda data: data[4:12] == b"ftypavif",
}


def upload(client: httpx.Client, data: bytes, name: str = "photo.jpg") -> dict:
    response = client.post("/v1/images", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return response.json()


def plant(
    stack: Stack,
    data: bytes,
    fmt: str,
    width: int,
    height: int,
    frames: int = 1,
    shard: str | None = None,
) -> str:
    """Store `data` as an original with a sidecar that claims the given header (in `shard`, or
    a new one); its CDN URL."""
    shard, image_id = shard or new_shard(), new_id()
    path = stack.settings.data_dir / f"plant-{image_id}"
    path.write_bytes(data)
    meta = OriginalMeta(
        format=fmt,
        content_type=f"image/{'jpeg' if fmt == 'jpg' else fmt}",
        etag=f"planted{image_id}",
        bytes=len(data),
        width=width,
        height=height,
        frames=frames,
        transformable=True,
        expires_at=None,
    )

    async def work(runtime: Runtime) -> None:
        await cdn.publish(runtime.blobs, shard, image_id, path, meta)

    stack.run(work)
    path.unlink()
    return f"{stack.settings.cdn_url}/{shard}/{image_id}.{fmt}"


def assert_image(response: httpx.Response, content_type: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert MAGIC[content_type](response.content), response.content[:16]


@pytest.fixture
def client(stack: Stack) -> httpx.Client:
    return stack.client(stack.key())
