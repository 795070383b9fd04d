"""`imgpro admin gc`: blobs no image row owns go once old enough; owned blobs always stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from imgpro.ids import new_id, new_shard
from imgpro.ops import gc
from imgpro.runtime import Runtime
from tests.cdn.conftest import upload
from tests.conftest import Stack
from tests.factories.images import jpeg
from tests.ops.conftest import imgpro


def orphan(blobs: Path, age: float, size: int = 1000) -> Path:
    """An image's blobs without a row, as a node killed mid-upload leaves them."""
    folder = blobs / new_shard() / new_id()
    folder.mkdir(parents=True)
    for name in ("original.jpg", "meta.json"):
        path = folder / name
        path.write_bytes(os.urandom(size))
        os.utime(path, (time.time() - age, time.time() - age))
    return folder


def test_old_orphans_go_young_ones_stay(tmp_path: Path) -> None:
    from imgpro.db import migrate

    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}")
    env = {"IMGPRO_DATA_DIR": str(tmp_path)}
    old = orphan(tmp_path / "blobs", age=7200)
    young = orphan(tmp_path / "blobs", age=60)

    assert imgpro("admin", "gc", env=env) == {"removed": 2, "bytes": 2000}
    assert not old.exists() and young.exists()

    assert imgpro("admin", "gc", "--min-age", "0", env=env) == {"removed": 2, "bytes": 2000}
    assert not young.exists()


def test_an_image_with_a_row_is_never_collected(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = upload(client, jpeg(64, 48))
    client.get(image["url"], params={"w": 20})  # a variant too

    async def collect(runtime: Runtime) -> tuple[int, int]:
        return await gc.collect(runtime, min_age=0)

    stack.run(collect)

    assert client.get(image["url"]).status_code == 200
    assert client.get(image["url"], params={"w": 20}).status_code == 200
