"""The blob-store interface: originals and rendered variants live behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol


class BlobNotFound(Exception):
    """No blob under that key."""


class BlobStore(Protocol):
    async def put_file(self, key: str, source: Path) -> None:
        """Store `source` under `key` atomically: readers see all of it or nothing."""

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""

    async def get_bytes(self, key: str) -> bytes: ...

    def local_path(self, key: str) -> Path | None:
        """A file path to serve the blob from directly (sendfile), when the store is local."""

    def stream(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; raises BlobNotFound before the first chunk."""
        ...

    async def size(self, key: str) -> int | None:
        """The blob's size, or None when absent."""

    async def delete(self, key: str) -> None:
        """Remove the blob (absent is fine)."""

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every blob whose key starts with `prefix`."""
