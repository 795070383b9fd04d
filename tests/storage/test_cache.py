"""The node's local blob cache in front of S3: bounded, least recently used out, and a copy is
served without asking the store; deletes reach every node's cache through the gone feed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgpro.storage.cache import BlobCache, CachedStore
from imgpro.storage.coordination import GoneFeed
from imgpro.storage.s3 import S3BlobStore
from tests.backends import MotoS3
from tests.conftest import REDIS_URL


def node(moto: MotoS3, bucket: str, cache_dir: Path, budget: int = 10**9) -> CachedStore:
    return CachedStore(S3BlobStore(moto.url(bucket)), BlobCache(cache_dir, budget), feed=None)


async def serve(store: CachedStore, key: str) -> bytes:
    """What the CDN does: the local copy when there is one, else stream (and so cache) it."""
    path = store.local_path(key)
    if path is not None:
        return path.read_bytes()
    return b"".join([chunk async for chunk in store.stream(key)])


async def test_least_recently_used_blobs_leave_first_when_over_budget(
    moto: MotoS3, tmp_path: Path
) -> None:
    store = node(moto, moto.new_bucket(), tmp_path, budget=3000)
    blobs = {name: os.urandom(1000) for name in "abcd"}
    for name, data in blobs.items():
        await store.put_bytes(f"s00/{name}/original.jpg", data)
    for name in "abc":
        await serve(store, f"s00/{name}/original.jpg")
    await serve(store, "s00/a/original.jpg")  # a is now the most recently used

    await serve(store, "s00/d/original.jpg")  # over budget: b then c go

    cached = {name for name in "abcd" if store.local_path(f"s00/{name}/original.jpg")}
    assert cached == {"a", "d"}
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) <= 3000


async def test_a_cached_blob_is_served_while_the_store_is_down(tmp_path: Path) -> None:
    own = MotoS3()
    own.start()
    try:
        bucket = own.new_bucket()
        store = node(own, bucket, tmp_path)
        await store.put_bytes("s00/a/original.jpg", b"photo")
        assert await serve(store, "s00/a/original.jpg") == b"photo"
    finally:
        own.stop()
    assert await serve(store, "s00/a/original.jpg") == b"photo"
    assert await store.get_bytes("s00/a/original.jpg") == b"photo"


async def test_a_download_cut_short_leaves_no_copy(moto: MotoS3, tmp_path: Path) -> None:
    store = node(moto, moto.new_bucket(), tmp_path)
    await store.put_bytes("s00/a/original.jpg", os.urandom(300_000))
    stream = store.stream("s00/a/original.jpg", chunk_size=64 * 1024)
    await anext(stream)
    await stream.aclose()  # the client went away

    assert store.local_path("s00/a/original.jpg") is None
    assert not [f for f in tmp_path.rglob("*") if f.is_file()]


async def test_a_restarted_node_keeps_its_cache_within_budget(moto: MotoS3, tmp_path: Path) -> None:
    bucket = moto.new_bucket()
    first = node(moto, bucket, tmp_path, budget=10_000)
    for name in "ab":
        await first.put_bytes(f"s00/{name}/original.jpg", os.urandom(4000))
        await serve(first, f"s00/{name}/original.jpg")

    second = node(moto, bucket, tmp_path, budget=5000)  # the same disk, a smaller budget
    await second.put_bytes("s00/c/original.jpg", os.urandom(1000))
    await serve(second, "s00/c/original.jpg")

    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) <= 5000
    assert second.local_path("s00/c/original.jpg") is not None


@pytest.fixture
def feed_pair() -> Iterator[tuple[GoneFeed, GoneFeed]]:
    yield GoneFeed(REDIS_URL), GoneFeed(REDIS_URL)


async def test_a_delete_on_one_node_drops_the_copy_on_another(
    moto: MotoS3, tmp_path: Path, feed_pair: tuple[GoneFeed, GoneFeed]
) -> None:
    bucket = moto.new_bucket()
    here = CachedStore(
        S3BlobStore(moto.url(bucket)), BlobCache(tmp_path / "a", 10**6), feed_pair[0]
    )
    there = CachedStore(
        S3BlobStore(moto.url(bucket)), BlobCache(tmp_path / "b", 10**6), feed_pair[1]
    )
    heard: list[str | None] = []
    there.on_gone(heard.append)
    await there.start()
    try:
        for _ in range(100):  # the follower reads the stream's end before it counts as live
            if there.fresh_for() == float("inf"):
                break
            await asyncio.sleep(0.05)
        assert there.fresh_for() == float("inf")
        await here.put_bytes("s00/a/original.jpg", b"photo")
        await serve(there, "s00/a/original.jpg")
        assert there.local_path("s00/a/original.jpg") is not None

        await here.delete_prefix("s00/a/")

        for _ in range(100):
            if "s00/a/" in heard:
                break
            await asyncio.sleep(0.05)
        assert "s00/a/" in heard
        assert there.local_path("s00/a/original.jpg") is None
    finally:
        await there.close()
        await here.close()


async def test_without_a_feed_nothing_cached_is_trusted_for_long(
    moto: MotoS3, tmp_path: Path
) -> None:
    store = node(moto, moto.new_bucket(), tmp_path)
    assert store.fresh_for() <= 5  # decisions.md §6: a delete is a 404 everywhere within 5 s
