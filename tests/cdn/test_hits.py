"""The hit path: a stored blob answered before the middleware, exactly as the full stack would
answer it, and everything else (Range, HEAD, misses, uncached sidecars, bad queries, other
surfaces) handed on untouched; hits logged as one summary line. Range on small (inline) blobs,
over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from imgpro.app import Surfaces
from imgpro.cdn import service as cdn
from imgpro.cdn.hits import HitLog, HitPath, HotBlobs
from imgpro.cdn.layout import OriginalMeta
from imgpro.cdn.variants import requested, variant_of
from imgpro.ids import new_id, new_shard
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from tests.cdn.conftest import upload
from tests.factories import images as make

BASE = "http://127.0.0.1:8000"


async def surface_name(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the full stack: answers 299 and the path it was given."""
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(scope["path"]).encode()})


class Served:
    """A HitPath over a real blob store holding one JPEG original (its sidecar cached) and one
    stored WebP variant of it; the full stack behind it is `surface_name`."""

    def __init__(self, tmp_path: Path) -> None:
        self.runtime = Runtime.build(Settings(data_dir=tmp_path, cdn_url=f"{BASE}/src"))
        self.shard, self.image_id = new_shard(), new_id()
        self.original = make.jpeg(120, 80)
        self.meta = OriginalMeta(
            format="jpg",
            content_type="image/jpeg",
            etag=f"etag{self.image_id}",
            bytes=len(self.original),
            width=120,
            height=80,
            frames=1,
            transformable=True,
            expires_at=None,
        )
        variant = variant_of(self.shard, self.image_id, self.meta, requested("w=60&format=webp"))
        assert variant is not None
        self.variant = variant
        self.variant_bytes = make.webp(60, 40)
        self.hit_log = HitLog()
        surfaces = Surfaces(self.runtime, surface_name, surface_name, surface_name)
        self.app = HitPath(surfaces, surfaces.cdn_path, self.runtime.blobs, self.hit_log)
        self.url = f"/src/{self.shard}/{self.image_id}.jpg"

    async def store(self, tmp_path: Path) -> None:
        source = tmp_path / "source.jpg"
        source.write_bytes(self.original)
        await cdn.publish(self.runtime.blobs, self.shard, self.image_id, source, self.meta)
        await self.runtime.blobs.put_bytes(self.variant.key, self.variant_bytes)
        cdn.META_CACHE.put(self.shard, self.image_id, self.meta)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Served, httpx.AsyncClient]]:
    served = Served(tmp_path)
    await served.store(tmp_path)
    transport = httpx.ASGITransport(app=served.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield served, client
    served.hit_log.flush()
    await served.runtime.close()


def counted() -> tuple[float, float]:
    """This process's count of cdn 200s and of variant hits."""
    labels = {"surface": "cdn", "status": "200"}
    ok = REGISTRY.get_sample_value("imgpro_http_requests_total", labels)
    hits = REGISTRY.get_sample_value("imgpro_cdn_cache_total", {"result": "hit"})
    return ok or 0.0, hits or 0.0


async def test_a_stored_variant_is_answered_with_the_caching_headers(
    served: tuple[Served, httpx.AsyncClient],
) -> None:
    app, client = served
    before = counted()
    response = await client.get(app.url + "?w=60&format=webp", headers={"X-Request-Id": "r-1"})
    assert response.status_code == 200
    assert response.content == app.variant_bytes
    assert dict(response.headers) == {
        "etag": f'"{app.variant.etag}"',
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-length": str(len(app.variant_bytes)),
        "content-type": "image/webp",
        "x-request-id": "r-1",
    }
    after = counted()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_the_original_and_a_304_are_answered_too(
    served: tuple[Served, httpx.AsyncClient],
) -> None:
    app, client = served
    original = await client.get(app.url)
    assert original.status_code == 200 and original.content == app.original
    assert original.headers["etag"] == f'"{app.meta.etag}"'
    assert original.headers["content-type"] == "image/jpeg"
    assert len(original.headers["x-request-id"]) == 16  # made here when the caller sent none
    revalidated = await client.get(
        app.url + "?w=60&format=webp", headers={"If-None-Match": f'W/"{app.variant.etag}"'}
    )
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == f'"{app.variant.etag}"'
    assert "content-type" not in revalidated.headers


@pytest.mark.parametrize(
    "method, query, headers",
    [
        ("GET", "?w=60&format=webp", {"Range": "bytes=0-9"}),
        ("HEAD", "?w=60&format=webp", {}),
        ("GET", "?w=61&format=webp", {}),  # not rendered yet: a miss
    ],
)
async def test_range_head_and_misses_go_to_the_full_stack(
    served: tuple[Served, httpx.AsyncClient], method: str, query: str, headers: dict[str, str]
) -> None:
    app, client = served
    response = await client.request(method, app.url + query, headers=headers)
    assert response.status_code == 299


async def test_an_uncached_sidecar_and_other_surfaces_go_to_the_full_stack(
    served: tuple[Served, httpx.AsyncClient],
) -> None:
    app, client = served
    assert (await client.get("/v1/images")).status_code == 299
    assert (await client.get(f"/{app.shard}/{app.image_id}.jpg")).status_code == 299  # web
    assert (await client.get(app.url.replace(".jpg", ".png"))).status_code == 299
    cdn.META_CACHE.forget(app.shard, app.image_id)
    assert (await client.get(app.url)).status_code == 299


async def test_hits_are_logged_as_one_summary_line(
    served: tuple[Served, httpx.AsyncClient],
) -> None:
    app, client = served
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await client.get(app.url + "?w=60&format=webp")
        await client.get(app.url, headers={"If-None-Match": f'"{app.meta.etag}"'})
        app.hit_log.flush()
    assert [entry["event"] for entry in logs] == ["cdn_hits"]
    line = logs[0]
    assert (line["ok"], line["not_modified"]) == (3, 1)
    assert line["bytes"] == 3 * len(app.variant_bytes)
    assert line["ms_max"] >= line["ms_mean"] > 0


# -- over HTTP: Range on blobs small enough to be read inline ----------------------------------


@pytest.mark.parametrize("query", ["", "?w=50&format=webp"])
def test_a_range_of_a_small_blob_is_a_206(client: httpx.Client, query: str) -> None:
    image = upload(client, make.jpeg(200, 150))
    whole = client.get(image["url"] + query)
    size = len(whole.content)
    for _ in range(2):  # the first request and a repeated one (a hit)
        part = client.get(image["url"] + query, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 10-19/{size}"
        assert part.content == whole.content[10:20]
        assert part.headers["etag"] == whole.headers["etag"]
        assert part.headers["cache-control"] == "public, max-age=31536000, immutable"
    unsatisfiable = client.get(image["url"] + query, headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"


def test_a_hit_answers_what_the_full_stack_answered(client: httpx.Client) -> None:
    image = upload(client, make.svg())
    first = client.get(image["url"])  # a new image's sidecar is read here (full stack), cached
    hit = client.get(image["url"])
    assert first.status_code == hit.status_code == 200
    assert first.content == hit.content

    def comparable(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}

    assert comparable(hit) == comparable(first)
    assert "content-security-policy" in hit.headers


def test_hot_blobs_are_read_again_once_the_file_changes_and_stay_within_their_bytes(
    tmp_path: Path,
) -> None:
    hot = HotBlobs(max_bytes=10)
    blob, other = tmp_path / "blob", tmp_path / "other"
    blob.write_bytes(b"12345")
    assert hot.read(str(blob), blob.stat()) == b"12345"
    (tmp_path / "new").write_bytes(b"abcdef")
    (tmp_path / "new").rename(blob)
    assert hot.read(str(blob), blob.stat()) == b"abcdef"  # another inode and size: read again
    seen = blob.stat()
    blob.unlink()
    assert hot.read(str(blob), seen) == b"abcdef"  # from memory: the stat given still matches
    other.write_bytes(b"67890")
    assert hot.read(str(other), other.stat()) == b"67890"
    with pytest.raises(FileNotFoundError):  # 6 + 5 bytes > 10: `blob` was let go
        hot.read(str(blob), seen)
