"""Cached variants: each canonical transform of an original is rendered once, stored beside it
(`{shard}/{id}/v/{digest}.{fmt}`), and every later request streams the stored bytes.

* The variant's name is a digest of the canonical transform (plus `RENDERER_VERSION`), so
  reordered or redundant parameters land on one blob; its ETag is a digest of that and the
  original's ETag, known before any byte is read.
* Single flight: concurrent misses for one variant in this process share one render (a task per
  variant key; waiters share its result, and it finishes even if the first caller goes away).
  Across processes two may render the same variant at the same moment; both store identical
  bytes atomically, so that race costs CPU once, never correctness.
* Renders run in the bounded `RenderPool`; a refusal (corrupt blob, pixel bomb, time budget) is
  remembered for a few minutes so a hot broken URL does not burn a worker per request.
* Every stored variant is accounted in the `VariantCache`, which evicts the least recently used
  beyond the per-image and per-store caps (`cdn.cache`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyvips

from imgpro.cdn.cache import LEDGER_KEY, VariantCache
from imgpro.cdn.layout import OriginalMeta, variant_key
from imgpro.cdn.pool import RenderPool
from imgpro.cdn.service import Located
from imgpro.media import render as renderer
from imgpro.media.transform import TransformSpec, canonical, is_identity, parse
from imgpro.settings import Settings
from imgpro.storage import BlobNotFound, BlobStore

#: Bump when the renderer's output for a given transform changes: variants get new names.
RENDERER_VERSION = "1"
_REFUSAL_SECONDS = 300.0


@dataclass(frozen=True)
class Variant:
    key: str
    etag: str
    format: str
    content_type: str
    spec: TransformSpec


@functools.lru_cache(maxsize=4096)
def requested(query: str) -> TransformSpec:
    """The transform a raw query string asks for (memoised: the hot path parses nothing twice)."""
    return parse(query)


@functools.lru_cache(maxsize=4096)
def variant_of(
    shard: str, image_id: str, meta: OriginalMeta, spec: TransformSpec
) -> Variant | None:
    """The variant `spec` names for this original, or None when the original itself is the
    answer (no transform, or a source the CDN does not transform: parameters are ignored).
    Memoised: a hot variant costs no hashing."""
    if not meta.transformable:
        return None
    spec = renderer.without_no_ops(spec, meta.format)
    if is_identity(spec):
        return None
    name = hashlib.sha256(f"{RENDERER_VERSION}\n{canonical(spec)}".encode()).hexdigest()[:24]
    fmt = renderer.output_format(meta.format, spec)
    etag = hashlib.sha256(f"{meta.etag}\n{name}".encode()).hexdigest()[:32]
    return Variant(
        variant_key(shard, image_id, name, fmt), etag, fmt, renderer.CONTENT_TYPES[fmt], spec
    )


def _share_cores(render_threads: int) -> None:
    """libvips' own threads per render: the cores each render thread gets (VIPS_CONCURRENCY
    wins). By default there is a render thread per core, so one: more threads only contend."""
    if not os.environ.get("VIPS_CONCURRENCY"):
        pyvips.concurrency_set(max(1, (os.cpu_count() or 1) // render_threads))


class VariantGone(Exception):
    """The original disappeared (deleted, expired) while its variant was being made."""


class Variants:
    """Makes missing variants: single flight per key, bounded pool, remembered refusals."""

    def __init__(self, blobs: BlobStore, settings: Settings, pool: RenderPool | None = None):
        self.blobs = blobs
        self.pool = pool or RenderPool(
            settings.render_workers, settings.render_queue, settings.render_wait_seconds
        )
        _share_cores(self.pool.workers)
        self.max_output_pixels = settings.max_output_pixels
        self.limits = {
            "max_pixels": settings.max_source_pixels,
            "max_output_pixels": settings.max_output_pixels,
            "time_budget": settings.render_time_budget,
        }
        root = blobs.local_path(LEDGER_KEY)
        if root is None:
            raise ValueError("the variant cache needs a blob store with local files")
        self.cache = VariantCache(
            root.parent, settings.variant_max_per_image, settings.variant_cache_bytes
        )
        self._inflight: dict[str, asyncio.Task[bytes | None]] = {}
        self._refused: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def ensure(self, located: Located, variant: Variant) -> bytes | None:
        """Return once `variant` is stored: its bytes when this call rendered them (the stored
        blob may be evicted before it is read), None when another process had stored it.
        Raises `RenderRefused`, `PoolBusy`, `VariantGone`."""
        refused = self._refused.get(variant.key)
        if refused is not None:
            if refused[0] > time.monotonic():
                raise renderer.RenderRefused(refused[1])
            del self._refused[variant.key]
        task = self._inflight.get(variant.key)
        if task is None:
            task = asyncio.create_task(self._make(located, variant))
            self._inflight[variant.key] = task
            task.add_done_callback(lambda done: self._settle(variant.key, done))
        # a caller that goes away does not cancel the others' render
        return await asyncio.shield(task)

    def _settle(self, key: str, task: asyncio.Task[bytes | None]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and isinstance(task.exception(), renderer.RenderRefused):
            reason = task.exception().reason  # type: ignore[union-attr]
            self._refused[key] = (time.monotonic() + _REFUSAL_SECONDS, reason)
            if len(self._refused) > 1024:
                self._refused.popitem(last=False)

    async def _make(self, located: Located, variant: Variant) -> bytes | None:
        if await self.blobs.size(variant.key) is not None:  # another process stored it meanwhile
            return None
        key, original_size = located.key, None
        if located.work_key is not None and self._fits_working_copy(located.meta, variant.spec):
            key, original_size = located.work_key, (located.meta.width, located.meta.height)
        source: bytes | Path | None = self.blobs.local_path(key)
        try:
            if source is None:
                source = await self.blobs.get_bytes(key)
            rendered = await self.pool.run(
                renderer.render,
                source,
                located.meta.format,
                variant.spec,
                original_size=original_size,
                **self.limits,
            )
        except (FileNotFoundError, BlobNotFound):
            raise VariantGone(located.key) from None
        await self.blobs.put_bytes(variant.key, rendered.data)
        if await self.blobs.size(located.key) is None:  # deleted while rendering: leave nothing
            await self.blobs.delete(variant.key)
            raise VariantGone(located.key)
        path = self.blobs.local_path(variant.key)
        assert path is not None  # checked in __init__
        await asyncio.to_thread(self.cache.stored, path)
        return rendered.data

    def _fits_working_copy(self, meta: OriginalMeta, spec: TransformSpec) -> bool:
        assert meta.working_size is not None
        return renderer.fits_working_copy(
            (meta.width, meta.height),
            meta.working_size,
            spec,
            max_output_pixels=self.max_output_pixels,
        )

    def close(self) -> None:
        self.pool.close()
