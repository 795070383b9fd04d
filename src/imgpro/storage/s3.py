"""Blobs in an S3-compatible bucket (AWS, MinIO, R2, moto in tests), through obstore.

obstore (Rust's `object_store` under a typed Python API) won the comparison in
`bench/s3_clients.py` against aiobotocore: about a third of the CPU per request, about twice the
small GETs per second (the CDN's miss shape), half the resident memory after import, and bounded
memory while streaming (part size x parts in flight). Files go up as multipart uploads, which S3
makes visible only when complete (atomic); downloads stream in chunks.

Every failure that is not "no such key" becomes `StoreUnavailable` (503 + Retry-After), and the
retry budget is short so a dead store answers within seconds instead of hanging a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError

# obstore raises NotFoundError from some calls and FileNotFoundError from others (head)
from obstore.store import S3Store

from imgpro.storage.base import UNTRUSTED_SECONDS, BlobNotFound, StoredBlob, StoreUnavailable

PART_BYTES = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 2  # upload memory is bounded by PART_BYTES x PARTS_IN_FLIGHT


def s3_store(url: str) -> S3Store:
    """`s3://BUCKET[/PREFIX][?endpoint_url=URL&region=REGION]`; credentials from the AWS_*
    environment (or the instance's role)."""
    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint_url", "region"}
    if not parts.netloc or unknown:
        raise ValueError(
            "IMGPRO_STORAGE_URL must read s3://BUCKET[/PREFIX][?endpoint_url=URL&region=REGION]"
            + (f"; unknown parameter {sorted(unknown)[0]!r}" if unknown else "")
        )
    endpoint = query.get("endpoint_url")
    config: dict[str, object] = {"region": query.get("region", "us-east-1")}
    if endpoint:
        # a custom endpoint (MinIO, R2, moto) is addressed by path, and may be plain http
        config.update(endpoint=endpoint, virtual_hosted_style_request=False)
    return S3Store(
        parts.netloc,
        prefix=parts.path.strip("/") or None,
        client_options={
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": timedelta(seconds=3),
            "timeout": timedelta(seconds=30),
        },
        retry_config={
            "max_retries": 2,
            "retry_timeout": timedelta(seconds=5),
            "backoff": {"init_backoff": timedelta(milliseconds=100), "base": 2},
        },
        **config,  # type: ignore[arg-type]
    )


def _unavailable(key: str, error: BaseError) -> StoreUnavailable:
    return StoreUnavailable(f"blob store failed on {key!r}: {str(error)[:300]}")


class S3BlobStore:
    """The shared blob store of a multi-node deployment."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store = s3_store(url)

    async def put_file(self, key: str, source: Path) -> None:
        try:
            await obstore.put_async(
                self._store, key, source, chunk_size=PART_BYTES, max_concurrency=PARTS_IN_FLIGHT
            )
        except BaseError as error:
            raise _unavailable(key, error) from None

    async def put_bytes(self, key: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._store, key, data, use_multipart=False)
        except BaseError as error:
            raise _unavailable(key, error) from None

    async def get_bytes(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError):
            raise BlobNotFound(key) from None
        except BaseError as error:
            raise _unavailable(key, error) from None

    def local_path(self, key: str) -> Path | None:
        return None

    async def stream(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        try:
            result = await obstore.get_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            raise BlobNotFound(key) from None
        except BaseError as error:
            raise _unavailable(key, error) from None
        try:
            async for chunk in result.stream(min_chunk_size=chunk_size):
                yield bytes(chunk)
        except BaseError as error:
            raise _unavailable(key, error) from None

    async def size(self, key: str) -> int | None:
        try:
            return int((await obstore.head_async(self._store, key))["size"])
        except (NotFoundError, FileNotFoundError):
            return None
        except BaseError as error:
            raise _unavailable(key, error) from None

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return
        except BaseError as error:
            raise _unavailable(key, error) from None

    async def delete_prefix(self, prefix: str) -> None:
        keys = [blob.key async for blob in self.walk(prefix)]
        try:
            for start in range(0, len(keys), 1000):  # S3's DeleteObjects takes 1,000 at most
                await obstore.delete_async(self._store, keys[start : start + 1000])
        except BaseError as error:
            raise _unavailable(prefix, error) from None

    async def walk(self, prefix: str = "") -> AsyncIterator[StoredBlob]:
        try:
            async for batch in obstore.list(self._store, prefix or None, chunk_size=1000):
                for item in batch:
                    modified = item["last_modified"].timestamp()
                    yield StoredBlob(item["path"], int(item["size"]), modified)
        except BaseError as error:
            raise _unavailable(prefix, error) from None

    def fresh_for(self) -> float:
        return UNTRUSTED_SECONDS

    def on_gone(self, listener: Callable[[str | None], None]) -> None:
        return None  # alone it hears nothing: `CachedStore` adds the gone feed

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
