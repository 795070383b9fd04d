"""Blobs as files under one directory; writes are atomic (temp file + rename)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from imgpro.files import TMP_DIR, key_path, rename_into, write_whole
from imgpro.storage.base import BlobNotFound, StoredBlob


def files_under(root: Path) -> list[StoredBlob]:
    """Every file below `root` as a blob, except the `.tmp` directory of unfinished writes."""
    found = []
    for directory, subdirs, files in os.walk(root):
        if Path(directory) == root:
            subdirs[:] = [name for name in subdirs if name != TMP_DIR]
        for name in files:
            path = Path(directory) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted while we walked
                continue
            found.append(StoredBlob(path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime))
    return found


class FileSystemBlobStore:
    """One node's disk: every worker reads the same files, so nothing cached can go stale."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / TMP_DIR
        self._tmp.mkdir(exist_ok=True)

    def path(self, key: str) -> Path:
        return key_path(self.root, key)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def _put_file_sync(self, key: str, source: Path) -> None:
        target = self.path(key)
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            rename_into(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put_file(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._put_file_sync, key, source)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(write_whole, self.root, key, data)

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def stream(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        try:
            handle = open(self.path(key), "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> None:
        target = self.path(prefix.rstrip("/"))
        if target.is_dir():
            await asyncio.to_thread(shutil.rmtree, target, True)
        else:
            target.unlink(missing_ok=True)

    async def walk(self, prefix: str = "") -> AsyncIterator[StoredBlob]:
        for blob in await asyncio.to_thread(files_under, self.root):
            if blob.key.startswith(prefix):
                yield blob

    def fresh_for(self) -> float:
        return float("inf")

    def on_gone(self, listener: Callable[[str | None], None]) -> None:
        return None  # every process reads the same files: a delete is seen at once

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
