"""The S3 blob store against moto's S3 server over HTTP: what the CDN and uploads rely on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imgpro.storage import BlobNotFound, StoreUnavailable
from imgpro.storage.s3 import PART_BYTES, S3BlobStore
from tests.backends import MotoS3
from tests.conftest import free_port


@pytest.fixture
def store(moto: MotoS3) -> S3BlobStore:
    return S3BlobStore(moto.url(moto.new_bucket()))


async def test_a_file_larger_than_a_part_goes_up_and_streams_down_whole(
    store: S3BlobStore, tmp_path: Path
) -> None:
    data = os.urandom(PART_BYTES * 2 + 12345)  # a multipart upload of three parts
    source = tmp_path / "big"
    source.write_bytes(data)
    await store.put_file("abc/id1/original.jpg", source)

    chunks = [chunk async for chunk in store.stream("abc/id1/original.jpg", 64 * 1024)]

    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) < len(data)  # it streamed, in pieces
    assert await store.size("abc/id1/original.jpg") == len(data)


async def test_bytes_round_trip_and_absent_keys(store: S3BlobStore) -> None:
    await store.put_bytes("abc/id1/meta.json", b"{}")
    assert await store.get_bytes("abc/id1/meta.json") == b"{}"
    assert await store.size("abc/id1/nothing") is None
    with pytest.raises(BlobNotFound):
        await store.get_bytes("abc/id1/nothing")
    with pytest.raises(BlobNotFound):
        await anext(store.stream("abc/id1/nothing"))
    await store.delete("abc/id1/nothing")  # absent is fine


async def test_delete_prefix_removes_one_image_and_leaves_its_neighbours(
    store: S3BlobStore,
) -> None:
    for key in ("abc/id1/original.jpg", "abc/id1/v/x.webp", "abc/id10/original.jpg"):
        await store.put_bytes(key, b"x")

    await store.delete_prefix("abc/id1/")

    assert sorted([blob.key async for blob in store.walk()]) == ["abc/id10/original.jpg"]


async def test_walk_lists_sizes_and_times(store: S3BlobStore) -> None:
    before = time.time() - 60
    await store.put_bytes("abc/id1/original.jpg", b"12345")
    [blob] = [blob async for blob in store.walk("abc/")]
    assert (blob.key, blob.size) == ("abc/id1/original.jpg", 5)
    assert blob.modified > before


async def test_a_prefix_in_the_url_keeps_blobs_under_it(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    store = S3BlobStore(f"s3://{bucket}/node-a?endpoint_url={moto.endpoint}&region=us-east-1")
    await store.put_bytes("abc/id1/meta.json", b"{}")
    assert moto.keys(bucket) == ["node-a/abc/id1/meta.json"]


async def test_an_unreachable_store_fails_fast_as_unavailable() -> None:
    dead = f"s3://bucket?endpoint_url=http://127.0.0.1:{free_port()}&region=us-east-1"
    store = S3BlobStore(dead)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.get_bytes("abc/id1/meta.json")
    with pytest.raises(StoreUnavailable):
        await store.put_bytes("abc/id1/meta.json", b"{}")
    assert time.monotonic() - started < 30  # a bounded retry budget, not a hang


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3://bucket?endpoint=http://x", "s3://bucket?region=x&secret=y"],
)
def test_malformed_storage_urls_are_refused_with_the_shape_to_use(url: str) -> None:
    with pytest.raises(ValueError, match="s3://BUCKET"):
        S3BlobStore(url)
