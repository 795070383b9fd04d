"""The variant cache over HTTP: rendered once, stored, served with immutable caching headers;
identical concurrent misses render once; a full render pool answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import pyvips

from imgpro.cdn.layout import OriginalMeta
from imgpro.cdn.pool import RenderProcess
from imgpro.cdn.variants import variant_of
from imgpro.media.transform import canonical, parse
from tests.cdn.conftest import assert_image, plant, upload
from tests.conftest import Stack, start_stack
from tests.factories import images as make


def variant_files(stack: Stack, image_url: str) -> list[Path]:
    shard, name = image_url.rsplit("/", 2)[1:]
    folder = stack.settings.data_dir / "blobs" / shard / name.split(".")[0] / "v"
    return sorted(folder.glob("*")) if folder.exists() else []


def test_a_transform_is_rendered_once_then_served_from_storage(
    stack: Stack, client: httpx.Client
) -> None:
    image = upload(client, make.jpeg(400, 300))
    first = client.get(image["url"] + "?w=100&format=webp")
    assert_image(first, "image/webp")
    assert pyvips.Image.new_from_buffer(first.content, "").width == 100
    headers = first.headers
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    assert "vary" not in headers
    etag = headers["etag"]
    assert etag.startswith('"') and etag != client.get(image["url"]).headers["etag"]
    assert len(variant_files(stack, image["url"])) == 1

    # the same transform however it is spelled: one cache entry, one ETag, the same bytes
    for query in ("format=webp&w=100", "w=100&format=WEBP&unknown=1&h=", "w=100&w=100&format=webp"):
        again = client.get(f"{image['url']}?{query}")
        assert again.headers["etag"] == etag and again.content == first.content
    assert len(variant_files(stack, image["url"])) == 1

    cached = client.get(image["url"] + "?w=100&format=webp", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.headers["etag"] == etag
    head = client.head(image["url"] + "?w=100&format=webp")
    assert head.status_code == 200 and head.headers["content-type"] == "image/webp"


def test_no_transform_or_the_stored_format_serves_the_original(client: httpx.Client) -> None:
    image = upload(client, make.png(60, 40), "a.png")
    original = client.get(image["url"])
    for query in ("format=png", "strip=1", "w=0", "fit=cover", "dpr=2", "brightness=1"):
        response = client.get(f"{image['url']}?{query}")
        assert response.headers["etag"] == original.headers["etag"], query
        assert response.content == original.content


def test_deleting_an_image_removes_its_variants(stack: Stack, client: httpx.Client) -> None:
    image = upload(client, make.jpeg(200, 100))
    assert client.get(image["url"] + "?w=50").status_code == 200
    assert variant_files(stack, image["url"])
    assert client.delete(f"/v1/images/{image['id']}").status_code == 200
    assert client.get(image["url"] + "?w=50").status_code == 404
    assert client.get(image["url"] + "?w=60").json()["error"]["code"] == "not_found"
    assert not variant_files(stack, image["url"])


class SlowRenders:
    """Wraps the hand-over to a render process: counts renders and holds each (and so its
    pool slot) until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.started = threading.Event()
        self.release = threading.Event()
        real = RenderProcess.call

        async def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            self.started.set()
            await asyncio.to_thread(self.release.wait, 20)
            return await real(*args, **kwargs)

        monkeypatch.setattr(RenderProcess, "call", slow)


def test_concurrent_identical_misses_render_once(
    stack: Stack, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = upload(client, make.jpeg(300, 200))
    renders = SlowRenders(monkeypatch)
    url = image["url"] + "?w=120&format=png&sharp=1"
    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(client.get, url) for _ in range(4)]
        assert renders.started.wait(20)
        threading.Timer(0.5, renders.release.set).start()  # let the other three arrive
        responses = [answer.result() for answer in answers]
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.content for r in responses}) == 1
    assert renders.count == 1
    assert client.get(url).status_code == 200 and renders.count == 1  # now a stored hit


@pytest.fixture(scope="module")
def busy_stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    running, server = start_stack(
        "busy",
        tmp_path_factory.mktemp("busy"),
        render_workers=1,
        render_queue=1,
        render_wait_seconds=0.3,
    )
    yield running
    running.close()
    server.stop()


def test_a_full_render_pool_answers_503_with_retry_after(
    busy_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = busy_stack.client(busy_stack.key())
    image = upload(client, make.jpeg(200, 100))
    renders = SlowRenders(monkeypatch)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(client.get, image["url"] + "?w=10")
        assert renders.started.wait(20)
        # one waits 0.3 s for the only worker, the other finds the queue full: both are refused
        refused = list(pool.map(client.get, [image["url"] + "?w=20", image["url"] + "?w=30"]))
        renders.release.set()
        assert first.result().status_code == 200
    for response in refused:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "service_unavailable"
    assert_image(client.get(image["url"] + "?w=20"), "image/jpeg")  # the pool recovered


def test_a_format_version_renames_only_that_formats_variants() -> None:
    meta = OriginalMeta("jpg", "image/jpeg", "e" * 32, 1000, 100, 80, 1, True, None)

    def first_name(query: str) -> str:
        spec = parse(query)
        return hashlib.sha256(f"1\n{canonical(spec)}".encode()).hexdigest()[:24]

    for query in ("w=50&format=webp", "w=50", "w=50&format=png"):  # names as they always were
        variant = variant_of("pub", "abcdefgh", meta, parse(query))
        assert variant is not None and first_name(query) in variant.key
    avif = variant_of("pub", "abcdefgh", meta, parse("w=50&format=avif"))
    assert avif is not None and first_name("w=50&format=avif") not in avif.key


def test_a_workspace_whose_shard_is_named_like_the_cdn_path_is_served(
    stack: Stack, client: httpx.Client
) -> None:
    # `/src/src/…`: the CDN surface is mounted at /src, and one workspace in 36³ gets the shard
    # `src`; routing must take the prefix off once, not again from what remains
    url = plant(stack, make.png(40, 30), "png", 40, 30, shard="src")
    assert "/src/src/" in url
    assert_image(client.get(url), "image/png")  # the original, through the hit path
    assert_image(client.get(url + "?w=20&format=webp"), "image/webp")  # a miss: rendered
    assert_image(client.get(url + "?w=20&format=webp"), "image/webp")  # and a hit


def test_an_image_address_with_a_trailing_slash_redirects_under_the_cdn_prefix(
    stack: Stack, client: httpx.Client
) -> None:
    # the slash redirect routes on the path less the surface's prefix and answers with the
    # CDN's own base URL, so `/src` stays in Location (also for a shard named `src`)
    for shard in (None, "src"):
        url = plant(stack, make.png(40, 30), "png", 40, 30, shard=shard)
        response = client.get(url + "/?w=20")
        assert response.status_code == 307
        assert response.headers["location"] == url + "?w=20"
    # no route either way: the CDN's 404, no redirect
    assert client.get(f"{stack.settings.cdn_url}/a/b/c/").status_code == 404
