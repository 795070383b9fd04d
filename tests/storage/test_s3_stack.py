"""A node on S3 (moto's server): uploads land in the bucket, never on the node's disk except its
cache, and the CDN serves originals and variants from there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import MotoS3
from tests.cdn.conftest import assert_image, upload
from tests.conftest import Stack, start_stack
from tests.factories.images import jpeg


@pytest.fixture(scope="module")
def s3_stack(moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    bucket = moto.new_bucket()
    running, server = start_stack("s3", tmp_path_factory.mktemp("s3"), storage_url=moto.url(bucket))
    running.bucket = bucket  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.close()
        server.stop()


def test_an_upload_is_stored_in_the_bucket_and_served_by_the_cdn(
    s3_stack: Stack, moto: MotoS3
) -> None:
    client = s3_stack.client(s3_stack.key())
    image = upload(client, jpeg(320, 240))
    shard, image_id = image["url"].split("/")[-2], image["id"]

    keys = moto.keys(s3_stack.bucket)  # type: ignore[attr-defined]
    assert f"{shard}/{image_id}/original.jpg" in keys
    assert f"{shard}/{image_id}/meta.json" in keys
    assert not (s3_stack.settings.data_dir / "blobs").exists()

    original = client.get(image["url"])
    assert_image(original, "image/jpeg")
    variant = client.get(image["url"], params={"w": 100})
    assert_image(variant, "image/jpeg")
    again = client.get(image["url"], params={"w": 100})
    assert again.content == variant.content
    assert any("/v/" in key for key in moto.keys(s3_stack.bucket))  # type: ignore[attr-defined]
    cached = Path(s3_stack.settings.data_dir / "cache" / shard / image_id)
    assert (cached / "original.jpg").is_file()  # served once: now on this node's disk


def test_a_delete_is_a_404_at_once_and_empties_the_bucket_of_the_image(
    s3_stack: Stack, moto: MotoS3
) -> None:
    client = s3_stack.client(s3_stack.key())
    image = upload(client, jpeg(64, 48))
    assert client.get(image["url"], params={"w": 32}).status_code == 200

    assert client.delete(f"/v1/images/{image['id']}").status_code in (200, 204)

    assert client.get(image["url"]).status_code == 404
    assert client.get(image["url"], params={"w": 32}).status_code == 404
    bucket_keys = moto.keys(s3_stack.bucket)  # type: ignore[attr-defined]
    assert not [key for key in bucket_keys if image["id"] in key]
