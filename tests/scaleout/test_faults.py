"""Backends failing under a running node (decisions.md §6): S3, Redis or PostgreSQL stops;
requests that need it answer 503 with Retry-After, everything else keeps working, and the node
recovers by itself when the backend returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.cdn.conftest import upload
from tests.conftest import Stack, start_stack
from tests.factories.images import jpeg
from tests.scaleout.conftest import Backends, assert_unavailable


@pytest.fixture(scope="module")
def node(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running_node, server = start_stack(
        "faults",
        tmp_path_factory.mktemp("faults"),
        database_url=backends.database_url,
        storage_url=backends.s3.url(backends.s3.new_bucket()),
        redis_url=backends.redis.url,
    )
    try:
        yield running_node
    finally:
        running_node.close()
        server.stop()


def eventually(request: Callable[[], httpx.Response], status: int) -> httpx.Response:
    """The node recovers by itself: retry (no restart, no reset) until the answer is back."""
    deadline = time.monotonic() + 30
    while True:
        response = request()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_with_s3_down_what_needs_it_is_503_and_cached_bytes_still_serve(
    node: Stack, backends: Backends
) -> None:
    client = node.client(node.key())
    image = upload(client, jpeg(160, 120))
    assert client.get(image["url"], params={"w": 60}).status_code == 200  # now cached here

    backends.s3.stop()
    try:
        assert client.get(image["url"], params={"w": 60}).status_code == 200  # no S3 needed
        assert_unavailable(client.get(image["url"]))  # never served here: needs S3
        assert_unavailable(client.get(image["url"], params={"w": 30}))
        assert_unavailable(client.post("/v1/images", files={"file": ("a.jpg", jpeg(32, 32))}))
        assert client.get(f"/v1/images/{image['id']}").status_code == 200  # the database
    finally:
        backends.s3.start()

    assert eventually(lambda: client.get(image["url"]), 200).status_code == 200
    again = client.post("/v1/images", files={"file": ("a.jpg", jpeg(32, 32))})
    assert again.status_code == 201


def test_with_redis_down_limits_and_the_render_lock_fail_open(
    node: Stack, backends: Backends
) -> None:
    keyed = node.client(node.key())
    anonymous = node.client()
    image = upload(keyed, jpeg(160, 120))

    backends.redis.stop()
    try:
        assert (
            anonymous.post("/v1/images", files={"file": ("a.jpg", jpeg(40, 30))}).status_code == 201
        )
        assert keyed.get(image["url"], params={"w": 50}).status_code == 200  # a render
        assert keyed.get(f"/v1/images/{image['id']}").status_code == 200
        assert keyed.delete(f"/v1/images/{image['id']}").status_code in (200, 204)
        assert keyed.get(image["url"]).status_code == 404
    finally:
        backends.redis.start()

    later = upload(keyed, jpeg(40, 30))
    assert eventually(lambda: keyed.get(later["url"], params={"w": 20}), 200).status_code == 200


def test_with_postgresql_cut_the_api_is_503_and_the_cdn_keeps_serving(
    node: Stack, backends: Backends
) -> None:
    client = node.client(node.key())
    image = upload(client, jpeg(160, 120))
    assert client.get(image["url"], params={"w": 70}).status_code == 200

    backends.postgres.cut()
    try:
        assert_unavailable(client.get(f"/v1/images/{image['id']}"))
        assert_unavailable(client.get("/v1/images"))
        assert_unavailable(client.post("/v1/images", files={"file": ("a.jpg", jpeg(32, 32))}))
        assert client.get(image["url"], params={"w": 70}).status_code == 200  # no database
        assert client.get(image["url"], params={"w": 35}).status_code == 200  # nor to render
    finally:
        backends.postgres.restore()

    back = eventually(lambda: client.get(f"/v1/images/{image['id']}"), 200)
    assert back.status_code == 200
    assert client.post("/v1/images", files={"file": ("a.jpg", jpeg(32, 32))}).status_code == 201
