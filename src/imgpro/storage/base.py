"""The blob-store interface: originals and rendered variants live behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: How long a node may trust what it cached about a blob store it cannot hear deletes from
#: (decisions.md §6: a delete is a 404 on every node within 5 seconds).
UNTRUSTED_SECONDS = 2.0


class BlobNotFound(Exception):
    """No blob under that key."""


class StoreUnavailable(Exception):
    """The blob store did not answer (down, unreachable, timed out): the request answers 503."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    modified: float  # unix seconds


class BlobStore(Protocol):
    async def put_file(self, key: str, source: Path) -> None:
        """Store `source` under `key` atomically: readers see all of it or nothing."""

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""

    async def get_bytes(self, key: str) -> bytes: ...

    def local_path(self, key: str) -> Path | None:
        """A file path to serve the blob from directly (sendfile), when it is on this node."""

    def stream(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; raises BlobNotFound before the first chunk."""
        ...

    async def size(self, key: str) -> int | None:
        """The blob's size, or None when absent."""

    async def delete(self, key: str) -> None:
        """Remove the blob (absent is fine)."""

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every blob whose key starts with `prefix`."""

    def walk(self, prefix: str = "") -> AsyncIterator[StoredBlob]:
        """Every blob under `prefix` (garbage collection, backups)."""
        ...

    def fresh_for(self) -> float:
        """Seconds a cached sidecar may be served without asking the store again: forever when
        every delete reaches this process, else `UNTRUSTED_SECONDS`."""
        ...

    def on_gone(self, listener: Callable[[str | None], None]) -> None:
        """Call `listener` with each key prefix another process deleted (None: any may be)."""

    async def start(self) -> None:
        """Begin hearing about deletes made elsewhere (inside the server's event loop)."""

    async def close(self) -> None: ...
