"""A node's bounded local cache in front of a shared blob store (decisions.md §6).

The cache holds what this node served: a blob streamed from the store is written to
`IMGPRO_CACHE_DIR` as it passes (temp file, renamed when complete), and later requests for it
are served from disk with sendfile, without asking the store. Blobs are immutable (a new upload
is a new id, a variant is a pure function of its name), so a cached copy is never wrong; what can
change is whether the image still exists, and that is the sidecar's job (never cached here) plus
the gone feed: a delete anywhere drops the image's cached files on every node.

Least recently used goes first once the cache passes `IMGPRO_CACHE_BYTES`. Every worker process
of a node shares the directory; each keeps its own recency order, and when over budget it
rescans the directory so files written by its siblings count too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from imgpro.storage.base import UNTRUSTED_SECONDS, BlobStore, StoredBlob
from imgpro.storage.coordination import GoneFeed
from imgpro.storage.filesystem import files_under

GoneListener = Callable[[str | None], None]  # a gone key prefix, or None: anything may be stale


class BlobCache:
    """Files under one directory with a byte budget, least recently used out."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._tmp = root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():  # a process killed mid-download leaves these
            leftover.unlink(missing_ok=True)
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0
        self._rescan()

    def path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    def lookup(self, key: str) -> Path | None:
        """The cached file, marked as just used; None when this node has no copy."""
        path = self.path(key)
        if not path.is_file():  # one stat: a sibling worker may have evicted it
            self._forget(key)
            return None
        if key in self._sizes:
            self._sizes.move_to_end(key)
        return path

    def temp_file(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self._tmp)

    def admit(self, key: str, tmp: str) -> None:
        """Move a completely written temp file into the cache, then keep within budget."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = os.stat(tmp).st_size
        os.replace(tmp, target)
        self._forget(key)
        self._sizes[key] = size
        self._total += size
        if self._total > self.max_bytes:
            self._rescan()
            self._evict()

    def drop_prefix(self, prefix: str) -> None:
        for key in [key for key in self._sizes if key.startswith(prefix)]:
            self._forget(key)
        target = self.path(prefix.rstrip("/"))
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def _forget(self, key: str) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self._total -= size

    def _rescan(self) -> None:
        """Count every file on disk (siblings' too); unknown ones rank by modification time,
        before everything this process has used."""
        on_disk = sorted(files_under(self.root), key=lambda blob: blob.modified)
        known = self._sizes
        present = {blob.key for blob in on_disk}
        self._sizes = OrderedDict(
            (blob.key, blob.size) for blob in on_disk if blob.key not in known
        )
        self._sizes.update((key, size) for key, size in known.items() if key in present)
        self._total = sum(self._sizes.values())

    def _evict(self) -> None:
        # down to 90 %, so the next few admissions do not each pay for a rescan
        while self._sizes and self._total > self.max_bytes * 0.9:
            key, size = self._sizes.popitem(last=False)
            self._total -= size
            self.path(key).unlink(missing_ok=True)


class CachedStore:
    """A shared store seen through this node's `BlobCache`, told of deletes by the gone feed."""

    def __init__(self, remote: BlobStore, cache: BlobCache, feed: GoneFeed | None) -> None:
        self.remote = remote
        self.cache = cache
        self.feed = feed
        self._listeners: list[GoneListener] = []

    def on_gone(self, listener: GoneListener) -> None:
        self._listeners.append(listener)

    def gone(self, prefix: str | None) -> None:
        """Another node deleted `prefix` (None: deletes may have been missed)."""
        if prefix is not None:
            self.cache.drop_prefix(prefix)
        for listener in self._listeners:
            listener(prefix)

    async def put_file(self, key: str, source: Path) -> None:
        await self.remote.put_file(key, source)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self.remote.put_bytes(key, data)

    async def get_bytes(self, key: str) -> bytes:
        path = self.cache.lookup(key)
        if path is not None:
            try:
                return await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                pass  # evicted between the lookup and the read
        return await self.remote.get_bytes(key)

    def local_path(self, key: str) -> Path | None:
        return self.cache.lookup(key)

    async def stream(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """From the store, copying to the cache as the bytes pass; admitted only when whole."""
        fd, tmp = self.cache.temp_file()
        complete = False
        try:
            with os.fdopen(fd, "wb") as copy:
                async for chunk in self.remote.stream(key, chunk_size):
                    copy.write(chunk)
                    yield chunk
            complete = True
        finally:
            if complete:
                self.cache.admit(key, tmp)
            else:  # the store failed or the client went away: keep nothing half written
                Path(tmp).unlink(missing_ok=True)

    async def size(self, key: str) -> int | None:
        return await self.remote.size(key)

    async def delete(self, key: str) -> None:
        await self.remote.delete(key)
        self.cache.drop_prefix(key)

    async def delete_prefix(self, prefix: str) -> None:
        await self.remote.delete_prefix(prefix)
        self.cache.drop_prefix(prefix)
        if self.feed is not None:
            await self.feed.announce(prefix)

    def walk(self, prefix: str = "") -> AsyncIterator[StoredBlob]:
        return self.remote.walk(prefix)

    def fresh_for(self) -> float:
        return float("inf") if self.feed is not None and self.feed.live else UNTRUSTED_SECONDS

    async def start(self) -> None:
        if self.feed is not None:
            self.feed.start(self.gone)

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.close()
        await self.remote.close()
