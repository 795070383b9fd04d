"""Blob stores, chosen by IMGPRO_STORAGE_URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from imgpro.storage.base import BlobNotFound, BlobStore
from imgpro.storage.filesystem import FileSystemBlobStore

__all__ = ["BlobNotFound", "BlobStore", "FileSystemBlobStore", "open_store"]


def open_store(storage_url: str) -> BlobStore:
    parts = urlsplit(storage_url)
    if parts.scheme == "file":
        return FileSystemBlobStore(Path(parts.netloc + parts.path))
    raise ValueError(f"unsupported IMGPRO_STORAGE_URL scheme {parts.scheme!r}; use file://")
