"""Publishing images to the CDN's storage and finding what to serve, without the database."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from imgpro.cdn.layout import OriginalMeta, image_prefix, meta_key, original_key, work_key
from imgpro.cdn.pool import RenderKilled, RenderPool
from imgpro.clients import errors_of
from imgpro.logs import log
from imgpro.media import jobs, working_copy
from imgpro.media.outputs import RenderRefused
from imgpro.runtime import Runtime
from imgpro.storage import BlobNotFound, BlobStore


def file_etag(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()[:32]


async def publish(
    blobs: BlobStore,
    shard: str,
    image_id: str,
    path: Path,
    meta: OriginalMeta,
    copy: working_copy.WorkingCopy | None = None,
) -> None:
    """Store the served original and the working `copy` ingest made of it (a large HEIC's), then
    the sidecar (last: it makes them visible). Any other large one's working copy is made later,
    by its first variant that fits one."""
    await blobs.put_file(original_key(shard, image_id, meta.format), path)
    if copy is not None:
        await blobs.put_bytes(work_key(shard, image_id, copy.format), copy.data)
        meta = with_copy(meta, copy)
    await blobs.put_bytes(meta_key(shard, image_id), meta.dumps())


async def store_working_copy(
    blobs: BlobStore, shard: str, image_id: str, copy: working_copy.WorkingCopy
) -> bool:
    """Store a working copy made after upload and name it in the sidecar; False (and nothing
    left behind) when the image was deleted meanwhile."""
    try:
        meta = OriginalMeta.loads(await blobs.get_bytes(meta_key(shard, image_id)))
    except BlobNotFound:
        return False
    await blobs.put_bytes(work_key(shard, image_id, copy.format), copy.data)
    await blobs.put_bytes(meta_key(shard, image_id), with_copy(meta, copy).dumps())
    META_CACHE.forget(shard, image_id)
    if await blobs.size(original_key(shard, image_id, meta.format)) is None:  # deleted meanwhile
        await blobs.delete_prefix(image_prefix(shard, image_id))
        await blobs.delete(meta_key(shard, image_id))
        return False
    return True


async def _store_working_copy(
    blobs: BlobStore,
    renders: RenderPool,
    shard: str,
    image_id: str,
    path: Path,
    meta: OriginalMeta,
) -> OriginalMeta:
    """Store the original's working copy when it gets one; the sidecar that names it."""
    large = working_copy.wanted(meta.format, meta.width, meta.height, meta.frames)
    if not (meta.transformable and large) or meta.working_size is not None:
        return meta
    try:
        copy = await renders.run(jobs.WORKING_COPY, path, meta.format)
    # a decoder's error, a file that is no image any more, over time: no copy; variants come
    # from the original (or are refused as it is)
    except (jobs.PixelsFailed, RenderRefused, RenderKilled) as error:
        log.warning("working_copy_failed", original=path.name, error=str(error)[:200])
        return meta
    await blobs.put_bytes(work_key(shard, image_id, copy.format), copy.data)
    return with_copy(meta, copy)


def with_copy(meta: OriginalMeta, copy: working_copy.WorkingCopy) -> OriginalMeta:
    """The sidecar naming `copy` as the original's working copy."""
    return replace(meta, work_width=copy.width, work_height=copy.height, work_format=copy.format)


async def fetch_original(blobs: BlobStore, shard: str, image_id: str, fmt: str, dest: Path) -> None:
    """Copy a stored original to the file `dest` (BlobNotFound when it is gone)."""
    dest.write_bytes(await blobs.get_bytes(original_key(shard, image_id, fmt)))


async def add_working_copy(
    blobs: BlobStore, renders: RenderPool, shard: str, image_id: str, original: Path
) -> bool:
    """Give an original stored before working copies existed the copy it would get today
    (`original` is its file, from :func:`fetch_original`); True when one was added."""
    try:
        meta = OriginalMeta.loads(await blobs.get_bytes(meta_key(shard, image_id)))
    except BlobNotFound:
        return False
    updated = await _store_working_copy(blobs, renders, shard, image_id, original, meta)
    if updated is meta:
        return False
    await blobs.put_bytes(meta_key(shard, image_id), updated.dumps())
    META_CACHE.forget(shard, image_id)
    return True


async def unpublish(blobs: BlobStore, shard: str, image_id: str) -> None:
    await blobs.delete(meta_key(shard, image_id))
    await blobs.delete_prefix(image_prefix(shard, image_id))
    META_CACHE.forget(shard, image_id)


@dataclass(frozen=True)
class Located:
    shard: str
    image_id: str
    key: str
    meta: OriginalMeta
    work_key: str | None = None  # the working copy, when the original has one


class MetaCache:
    """A small LRU of sidecars. An entry is served for as long as the blob store says deletes
    reach this process (`fresh_for`): forever on a local disk (bytes always come from it, so a
    deleted image 404s anyway) or with the gone feed live; a couple of seconds otherwise."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[OriginalMeta, float]] = OrderedDict()
        self._size = size

    def get(self, shard: str, image_id: str, max_age: float) -> OriginalMeta | None:
        item = self._items.get((shard, image_id))
        if item is None:
            return None
        if time.monotonic() - item[1] > max_age:
            del self._items[(shard, image_id)]
            return None
        self._items.move_to_end((shard, image_id))
        return item[0]

    def put(self, shard: str, image_id: str, meta: OriginalMeta) -> None:
        self._items[(shard, image_id)] = (meta, time.monotonic())
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, shard: str, image_id: str) -> None:
        self._items.pop((shard, image_id), None)

    def gone(self, prefix: str | None) -> None:
        """Another node deleted `{shard}/{id}/` (None: some deletes may have been missed)."""
        if prefix is None:
            self._items.clear()
            return
        shard, _, rest = prefix.partition("/")
        self.forget(shard, rest.partition("/")[0])


META_CACHE = MetaCache()


async def locate(blobs: BlobStore, shard: str, image_id: str, ext: str) -> Located | None:
    """The original to serve for `/{shard}/{id}.{ext}`, or None (unknown, deleted, expired)."""
    meta = META_CACHE.get(shard, image_id, blobs.fresh_for())
    if meta is None:
        try:
            meta = OriginalMeta.loads(await blobs.get_bytes(meta_key(shard, image_id)))
        except BlobNotFound:
            return None
        META_CACHE.put(shard, image_id, meta)
    return _located(shard, image_id, ext, meta)


def locate_cached(blobs: BlobStore, shard: str, image_id: str, ext: str) -> Located | None:
    """:func:`locate` from the sidecar cache alone: None also when the sidecar is not cached."""
    meta = META_CACHE.get(shard, image_id, blobs.fresh_for())
    return None if meta is None else _located(shard, image_id, ext, meta)


def _located(shard: str, image_id: str, ext: str, meta: OriginalMeta) -> Located | None:
    if meta.format != ext or (meta.expires_at is not None and meta.expires_at <= time.time()):
        return None
    work = work_key(shard, image_id, meta.working_format) if meta.working_size else None
    return Located(shard, image_id, original_key(shard, image_id, meta.format), meta, work)


async def etag_of(path: Path) -> str:
    return await asyncio.to_thread(file_etag, path)


async def count_render(runtime: Runtime, client: str) -> None:
    """Count one cache miss against the client address's render rate; 429 once it is spent
    (renders cost CPU and storage, and anyone may ask for any variant)."""
    try:
        await runtime.limits.hit(
            f"{runtime.settings.renders_per_minute}/minute",
            "cdn-render",
            client,
            message="Too many new variants from this address; retry later.",
        )
    except errors_of("redis.exceptions", "RedisError") as error:
        # rate limits fail open (decisions §6): the image still loads
        log.warning("render_rate_unchecked", error=str(error)[:200])
