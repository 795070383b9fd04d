"""Blob stores, chosen by IMGPRO_STORAGE_URL: files on this node, or an S3-compatible bucket
seen through the node's bounded local cache."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from imgpro.settings import Settings
from imgpro.storage.base import BlobNotFound, BlobStore, StoredBlob, StoreUnavailable
from imgpro.storage.filesystem import FileSystemBlobStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "FileSystemBlobStore",
    "StoreUnavailable",
    "StoredBlob",
    "open_store",
]


def open_store(settings: Settings) -> BlobStore:
    parts = urlsplit(settings.storage_url)
    if parts.scheme == "file":
        return FileSystemBlobStore(Path(parts.netloc + parts.path))
    if parts.scheme == "s3":
        # imported only when configured: the S3 client (obstore) and Redis' are 14 MB of a
        # process that serves local files
        from imgpro.storage.cache import BlobCache, CachedStore
        from imgpro.storage.coordination import GoneFeed
        from imgpro.storage.s3 import S3BlobStore

        feed = GoneFeed(settings.redis_url) if settings.redis_url else None
        cache = BlobCache(settings.cache_dir or settings.data_dir / "cache", settings.cache_bytes)
        return CachedStore(S3BlobStore(settings.storage_url), cache, feed)
    raise ValueError(
        f"unsupported IMGPRO_STORAGE_URL scheme {parts.scheme!r}; use file:// or s3://"
    )
