"""A node killed with SIGKILL in the middle of 100 uploads: every image row has its blobs (the
blobs are stored before the row commits), and `imgpro admin gc` removes the blobs the dead node
left without a row."""

from __future__ import annotations

import concurrent.futures
import threading

import httpx
import pytest
from sqlalchemy import select

from imgpro.images.tables import Image
from imgpro.ops import gc
from imgpro.runtime import Runtime
from tests.backends import Node
from tests.factories.images import jpeg
from tests.scaleout.conftest import Backends

UPLOADS = 100


def test_a_node_killed_mid_upload_leaves_no_row_without_blobs(
    backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bucket = backends.s3.new_bucket()
    node = Node(
        "doomed",
        tmp_path_factory.mktemp("doomed"),
        database_url=backends.direct_database_url,
        storage_url=backends.s3.url(bucket),
        redis_url=backends.redis.url,
    )
    node.start()
    try:
        run_and_kill(node, bucket, backends)
    finally:
        node.stop()


def run_and_kill(node: Node, bucket: str, backends: Backends) -> None:
    key = node.stack.key()
    photo = jpeg(400, 300)
    answered = threading.Semaphore(0)

    def one(index: int) -> int:
        try:
            response = httpx.post(
                f"{node.base_url}/v1/images",
                files={"file": (f"{index}.jpg", photo)},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            return response.status_code
        except httpx.TransportError:
            return 0  # the node died under this one
        finally:
            answered.release()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = [pool.submit(one, index) for index in range(UPLOADS)]
        for _ in range(UPLOADS // 3):
            answered.acquire()
        node.kill()  # a third answered, others in flight: some mid-store
        statuses = [result.result() for result in results]

    assert 201 in statuses and 0 in statuses

    async def rows(runtime: Runtime) -> list[tuple[str, str, str]]:
        async with runtime.sessions() as db:
            found = await db.execute(select(Image.shard, Image.id, Image.format))
            return [tuple(row) for row in found]  # type: ignore[misc]

    stored = set(backends.s3.keys(bucket))
    for shard, image_id, fmt in node.stack.run(rows):
        assert f"{shard}/{image_id}/original.{fmt}" in stored
        assert f"{shard}/{image_id}/meta.json" in stored

    async def collect(runtime: Runtime) -> tuple[int, int]:
        return await gc.collect(runtime, min_age=0)

    node.stack.run(collect)

    owned = {f"{shard}/{image_id}/" for shard, image_id, _ in node.stack.run(rows)}
    left = {key.rsplit("/", 1)[0] + "/" for key in backends.s3.keys(bucket)}
    left = {"/".join(prefix.split("/")[:2]) + "/" for prefix in left}
    assert left <= owned  # nothing without a row remains
