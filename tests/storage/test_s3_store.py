"""The S3 blob store against moto's S3 server over HTTP: what the CDN and uploads rely on."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgpro.storage import BlobNotFound, StoreUnavailable
from imgpro.storage.s3 import PART_BYTES, S3BlobStore
from tests.backends import CREDENTIALS, MotoS3
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


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without them obstore asks the instance metadata service first, not the store."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def hanging_up(credentials: None) -> Iterator[tuple[str, list[int]]]:
    """An endpoint that accepts each connection and closes it unanswered; the connections it
    took, counted."""
    listener = socket.create_server(("127.0.0.1", 0))
    taken: list[int] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            taken.append(1)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", taken
    listener.close()
    thread.join(5)


async def test_a_store_that_hangs_up_is_unavailable_after_a_bounded_retry_budget(
    hanging_up: tuple[str, list[int]],
) -> None:
    endpoint, taken = hanging_up
    store = S3BlobStore(f"s3://bucket?endpoint_url={endpoint}&region=us-east-1")
    with pytest.raises(StoreUnavailable):
        await store.get_bytes("abc/id1/meta.json")
    assert len(taken) == 3  # the first try and max_retries=2: then the request gives up
    with pytest.raises(StoreUnavailable):
        await store.put_bytes("abc/id1/meta.json", b"{}")
    assert len(taken) == 6


async def test_an_unreachable_store_is_unavailable(credentials: None) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = S3BlobStore(f"s3://bucket?endpoint_url={dead}&region=us-east-1")
    with pytest.raises(StoreUnavailable, match=dead):
        await store.get_bytes("abc/id1/meta.json")
    with pytest.raises(StoreUnavailable, match=dead):
        await store.put_bytes("abc/id1/meta.json", b"{}")


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3://bucket?endpoint=http://x", "s3://bucket?region=x&secret=y"],
)
def test_malformed_storage_urls_are_refused_with_the_shape_to_use(url: str) -> None:
    with pytest.raises(ValueError, match="s3://BUCKET"):
        S3BlobStore(url)
