"""What an anonymous client can make the CDN spend (issue 9, findings 3 and 4): the variant
space is finite, stored variants are capped per image and per store (least recently used go
first, and come back on demand), renders are rate-limited per address, and no render holds a
worker much past the time budget."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgpro.cdn import service as cdn
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from tests.cdn.conftest import assert_image, upload
from tests.cdn.test_variants import variant_files
from tests.conftest import Stack, own_postgres_backends, start_stack
from tests.factories import images as make

PER_IMAGE = 3
CACHE_BYTES = 60_000
RENDERS_PER_MINUTE = 20
BUDGET = 1.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides = own_postgres_backends("cdn_limits", redis_offset=4)
    running, server = start_stack(
        f"limited-{request.param}",
        tmp_path_factory.mktemp("limited"),
        variant_max_per_image=PER_IMAGE,
        variant_cache_bytes=CACHE_BYTES,
        renders_per_minute=RENDERS_PER_MINUTE,
        render_time_budget=BUDGET,
        **overrides,
    )
    yield running
    running.close()
    server.stop()


def all_variants(stack: Stack) -> list[Path]:
    return sorted((stack.settings.data_dir / "blobs").glob("*/*/v/*"))


def age(paths: list[Path], seconds_ago: float) -> None:
    """Pretend these variants were last used `seconds_ago` (the cache's clock is their mtime)."""
    when = time.time() - seconds_ago
    for path in paths:
        os.utime(path, (when, when))


# -- a finite variant space -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("a hair more sharpening", ["w=50&sharp=1", "w=50&sharp=1.01", "w=50&sharp=0.98"]),
        ("tone a hair apart", ["w=50&brightness=1.2", "w=50&brightness=1.213"]),
        ("blur a hair apart", ["w=50&blur=3", "w=50&blur=3.2"]),
        ("quality a hair apart", ["w=50&format=webp&q=80", "w=50&format=webp&q=81"]),
        (
            "quality on PNG output",
            ["w=50&format=png", "w=50&format=png&q=99", "w=50&format=png&q=7"],
        ),
        ("quality at the default", ["w=50", "w=50&q=80"]),
        ("bg on an opaque JPEG", ["w=50", "w=50&bg=ff0000", "w=50&bg=transparent"]),
    ],
)
def test_values_with_the_same_effect_share_one_stored_variant(
    stack: Stack, client: httpx.Client, name: str, queries: list[str]
) -> None:
    image = upload(client, make.jpeg(120, 90))
    etags = set()
    for query in queries:
        response = client.get(f"{image['url']}?{query}")
        assert response.status_code == 200, (name, query, response.text)
        etags.add(response.headers["etag"])
    assert len(etags) == 1, name
    assert len(variant_files(stack, image["url"])) == 1, name


def test_bg_still_counts_where_it_shows(stack: Stack, client: httpx.Client) -> None:
    photo = upload(client, make.jpeg(120, 90))
    cutout = upload(client, make.png(120, 90, alpha=True), "a.png")
    pairs = [
        (photo["url"], "w=50&h=50&fit=pad", "w=50&h=50&fit=pad&bg=ff0000"),  # the padding
        (cutout["url"], "w=50&format=jpg", "w=50&format=jpg&bg=ff0000"),  # alpha flattened
    ]
    for url, plain, red in pairs:
        assert (
            client.get(f"{url}?{plain}").headers["etag"]
            != client.get(f"{url}?{red}").headers["etag"]
        )


# -- bounded storage ------------------------------------------------------------------------


def test_variants_per_image_are_capped_least_recently_used_first(limited: Stack) -> None:
    client = limited.client(limited.key())
    url = upload(client, make.jpeg(200, 150))["url"]
    stored: dict[int, str] = {}
    for width in (10, 20, 30):
        before = {path.name for path in variant_files(limited, url)}
        assert_image(client.get(f"{url}?w={width}"), "image/jpeg")
        (stored[width],) = {path.name for path in variant_files(limited, url)} - before
    folder = variant_files(limited, url)[0].parent
    for hours, width in enumerate((30, 20, 10), start=1):  # stored an hour apart, w=10 first
        age([folder / stored[width]], hours * 3600)
    assert_image(client.get(f"{url}?w=10"), "image/jpeg")  # w=10 is used again: now the newest

    assert_image(client.get(f"{url}?w=40"), "image/jpeg")  # one too many: the LRU one goes
    left = {path.name for path in variant_files(limited, url)}
    assert len(left) == PER_IMAGE
    assert stored[20] not in left and {stored[10], stored[30]} <= left

    # an evicted variant is only a cache miss: rendered again, and the cap still holds
    assert_image(client.get(f"{url}?w=20"), "image/jpeg")
    assert len(variant_files(limited, url)) == PER_IMAGE


def test_total_variant_bytes_are_capped(limited: Stack) -> None:
    client = limited.client(limited.key())
    images = [upload(client, make.jpeg(300, 200))["url"] for _ in range(4)]
    first = client.get(f"{images[0]}?w=290")
    for url in images:
        for width in (290, 280, 270):  # ~7 KB each: 12 of them are well past the 60 KB cap
            assert_image(client.get(f"{url}?w={width}"), "image/jpeg")
            assert sum(path.stat().st_size for path in all_variants(limited)) <= CACHE_BYTES
    assert len(variant_files(limited, images[-1])) == 3  # the newest stay
    assert len(all_variants(limited)) < 12  # the oldest went ...
    assert client.get(f"{images[0]}?w=290").content == first.content  # ... and come back


def test_renders_are_rate_limited_per_address(limited: Stack) -> None:
    owner = limited.client(limited.key())
    image = upload(owner, make.jpeg(100, 80))
    stranger = limited.client()
    answers = [stranger.get(f"{image['url']}?w={w}") for w in range(1, RENDERS_PER_MINUTE + 2)]
    assert [a.status_code for a in answers[:RENDERS_PER_MINUTE]] == [200] * RENDERS_PER_MINUTE
    refused = answers[-1]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    last = f"{image['url']}?w={RENDERS_PER_MINUTE}"
    assert stranger.get(last).status_code == 200  # stored variants still serve
    assert limited.client().get(f"{image['url']}?w=90").status_code == 200  # others still render


def test_render_counting_fails_open_when_redis_is_down(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")

    async def count() -> None:
        runtime = Runtime.build(settings)
        try:
            await cdn.count_render(runtime, "203.0.113.9")  # no error: the render goes ahead
        finally:
            await runtime.close()

    asyncio.run(count())


# -- the time budget --------------------------------------------------------------------------


def render_pids() -> set[int]:
    """The server's render processes (it runs in this process: they are our children)."""
    return {p.pid for p in multiprocessing.active_children() if p.name == "imgpro-render"}


def test_a_slow_avif_is_stopped_by_killing_its_render_process_and_never_stored(
    limited: Stack,
) -> None:
    client = limited.client(limited.key())
    small = upload(client, make.jpeg(120, 90))
    assert_image(client.get(small["url"] + "?w=31"), "image/jpeg")
    # the pool hands a render to the process that went idle last: the one that just rendered
    running = render_pids()
    assert running
    # decoding 12 MP takes a fraction of the 1 s budget; encoding them as AVIF at q=98 takes
    # many seconds inside libaom, where libvips' own deadline cannot reach: only a kill stops it
    image = upload(client, make.jpeg(4000, 3000, quality=95))
    response = client.get(image["url"] + "?format=avif&q=98")
    assert response.status_code in (422, 503), response.status_code
    assert response.json()["error"]["code"] in ("media_failed", "service_unavailable")
    assert running - render_pids(), "no render process was killed"
    assert not variant_files(limited, image["url"])
    assert_image(client.get(image["url"] + "?w=40&format=avif"), "image/avif")  # still serving


def test_a_render_process_that_dies_is_replaced(stack: Stack, client: httpx.Client) -> None:
    url = upload(client, make.jpeg(120, 90))["url"]
    assert_image(client.get(f"{url}?w=30"), "image/jpeg")
    renderers = [p for p in multiprocessing.active_children() if p.name == "imgpro-render"]
    assert renderers  # the server runs in this process: its render processes are our children
    for process in renderers:  # as the OOM killer would
        process.kill()
        process.join(5)
    assert_image(client.get(f"{url}?w=40"), "image/jpeg")
