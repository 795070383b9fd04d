"""Cached variants: each canonical transform of an original is rendered once, stored beside it
(`{shard}/{id}/v/{digest}.{fmt}`), and every later request streams the stored bytes.

* The variant's name is a digest of the canonical transform (plus `RENDERER_VERSION`), so
  reordered or redundant parameters land on one blob; its ETag is a digest of that and the
  original's ETag, known before any byte is read.
* Single flight: concurrent misses for one variant in this process share one render (a task per
  variant key; waiters share its result, and it finishes even if the first caller goes away).
  Across processes and nodes the Redis render lock lets one render and the others find its
  blob; without Redis two may render at once and store identical bytes atomically, which costs
  CPU once, never correctness.
* Renders run in the bounded `RenderPool`; a refusal (corrupt blob, pixel bomb, time budget) is
  remembered for a few minutes so a hot broken URL does not burn a worker per request.
* Every stored variant is accounted in the `VariantCache`, which evicts the least recently used
  beyond the per-image and per-store caps (`cdn.cache`). On local files the render process
  stores and accounts the variant itself (`cdn.variant_files`); on S3 the server does.
* A large original's working copy is made by its first variant that would render from it: that
  variant renders from the original as usual, then the copy is made in the pool in the
  background (once per image in this process), and later variants render from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imgpro.cdn import service as cdn
from imgpro.cdn.cache import VariantCache
from imgpro.cdn.layout import OriginalMeta, variant_key
from imgpro.cdn.pool import PoolBusy, RenderKilled, RenderPool
from imgpro.cdn.service import Located
from imgpro.cdn.variant_files import RENDER_STORED, VariantFiles, VariantGone
from imgpro.logs import log
from imgpro.media import jobs, working_copy
from imgpro.media.formats import CONTENT_TYPES
from imgpro.media.geometry import fits_working_copy
from imgpro.media.outputs import Rendered, RenderRefused, output_format, without_no_ops
from imgpro.media.transform import TransformSpec, canonical, is_identity, parse
from imgpro.ops.metrics import RENDER_DURATION, RENDER_QUEUE, RENDERS
from imgpro.settings import Settings
from imgpro.storage import BlobNotFound, BlobStore
from imgpro.storage.filesystem import FileSystemBlobStore

if TYPE_CHECKING:
    from imgpro.storage.coordination import RenderLock

#: Bump when the renderer's output for a given transform changes: variants get new names.
RENDERER_VERSION = "1"
#: Bumped per output format when only that format's output changed (the others keep theirs):
#: AVIF 2 is encoded at libaom speed 6 instead of 7 (smaller and better, see `render._save`).
FORMAT_VERSIONS = {"avif": "2"}
#: The render processes' kind of a cutout render: a cutout's inference frees ~200 MB that the
#: next cutout reuses (`imgpro.cdn.render_process`).
CUTOUT = "cutout"
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
    spec = without_no_ops(spec, meta.format)
    if is_identity(spec):
        return None
    fmt = output_format(meta.format, spec)
    version = RENDERER_VERSION + FORMAT_VERSIONS.get(fmt, "")
    name = hashlib.sha256(f"{version}\n{canonical(spec)}".encode()).hexdigest()[:24]
    etag = hashlib.sha256(f"{meta.etag}\n{name}".encode()).hexdigest()[:32]
    return Variant(variant_key(shard, image_id, name, fmt), etag, fmt, CONTENT_TYPES[fmt], spec)


class Variants:
    """Makes missing variants: single flight per key, bounded pool, remembered refusals."""

    def __init__(
        self,
        blobs: BlobStore,
        settings: Settings,
        pool: RenderPool,
        lock: RenderLock | None = None,
    ):
        self.blobs = blobs
        self.pool = pool  # the runtime's: uploads share its render processes
        self.max_output_pixels = settings.max_output_pixels
        self.limits = {
            "max_pixels": settings.max_source_pixels,
            "max_output_pixels": settings.max_output_pixels,
            "time_budget": settings.render_time_budget,
        }
        self.lock = lock  # across nodes: one render per variant (see storage.coordination)
        # on local files the caps hold per store and a variant is stored and accounted by the
        # render process that made it; on S3 the caps hold per image only (see `_cap_shared`)
        self.files = (
            VariantFiles(
                VariantCache(
                    blobs.root, settings.variant_max_per_image, settings.variant_cache_bytes
                )
            )
            if isinstance(blobs, FileSystemBlobStore)
            else None
        )
        self.max_per_image = settings.variant_max_per_image
        self._inflight: dict[str, asyncio.Task[bytes | None]] = {}
        self._copying: dict[str, asyncio.Task[None]] = {}  # working copies being made, by image
        self._refused: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def ensure(self, located: Located, variant: Variant) -> bytes | None:
        """Return once `variant` is stored: its bytes when this call rendered them (the stored
        blob may be evicted before it is read), None when another process had stored it.
        Raises `RenderRefused`, `PoolBusy`, `VariantGone`."""
        refused = self._refused.get(variant.key)
        if refused is not None:
            if refused[0] > time.monotonic():
                raise RenderRefused(refused[1])
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
        if not task.cancelled() and isinstance(task.exception(), RenderRefused):
            reason = task.exception().reason  # type: ignore[union-attr]
            self._refused[key] = (time.monotonic() + _REFUSAL_SECONDS, reason)
            if len(self._refused) > 1024:
                self._refused.popitem(last=False)

    async def _make(self, located: Located, variant: Variant) -> bytes | None:
        RENDER_QUEUE.inc()
        try:
            async with self.lock.held(variant.key) if self.lock else contextlib.nullcontext():
                return await self._render_unless_stored(located, variant)
        finally:
            RENDER_QUEUE.dec()

    async def _render_unless_stored(self, located: Located, variant: Variant) -> bytes | None:
        if await self.blobs.size(variant.key) is not None:  # another process stored it meanwhile
            return None
        key, original_size = located.key, None
        meta = located.meta
        if located.work_key is not None and self._fits_working_copy(meta, variant.spec):
            key, original_size = located.work_key, (meta.width, meta.height)
        elif self._wants_working_copy(meta, variant.spec):
            self._make_working_copy_soon(located)
        source: bytes | Path | None = self.blobs.local_path(key)
        try:
            if source is None:
                source = await self.blobs.get_bytes(key)
            started = time.perf_counter()
            rendered = await self._render(located, variant, source, original_size)
        except (FileNotFoundError, BlobNotFound, VariantGone):
            RENDERS.labels("gone").inc()
            raise VariantGone(located.key) from None
        except RenderKilled as killed:
            RENDERS.labels("refused").inc()
            raise RenderRefused(killed.reason) from None
        except RenderRefused:
            RENDERS.labels("refused").inc()
            raise
        except PoolBusy:
            RENDERS.labels("busy").inc()
            raise
        RENDERS.labels("ok").inc()
        RENDER_DURATION.observe(time.perf_counter() - started)
        if self.files is not None:  # stored by its render process
            return rendered.data
        await self.blobs.put_bytes(variant.key, rendered.data)
        if await self.blobs.size(located.key) is None:  # deleted while rendering: leave nothing
            await self.blobs.delete(variant.key)
            raise VariantGone(located.key)
        await self._cap_shared(variant.key)
        return rendered.data

    async def _render(
        self,
        located: Located,
        variant: Variant,
        source: bytes | Path,
        original_size: tuple[int, int] | None,
    ) -> Rendered:
        """`variant` rendered from `source` in the pool; on local files also stored there."""
        args = (source, located.meta.format, variant.spec)
        options = {"original_size": original_size, **self.limits}
        kind = CUTOUT if variant.spec.cutout else None
        if self.files is None:
            return await self.pool.run(jobs.RENDER, *args, kind=kind, **options)
        stored = (self.files, variant.key, located.key)
        return await self.pool.run(RENDER_STORED, *stored, *args, kind=kind, **options)

    async def _cap_shared(self, key: str) -> None:
        """On a shared store (S3) keep at most `max_per_image` variants of the image, the oldest
        deleted first: one listing per render, nothing on a hit. Bytes per bucket are left to
        the bucket's own lifecycle rules."""
        folder = key.rpartition("/")[0] + "/"
        stored = sorted(
            [blob async for blob in self.blobs.walk(folder) if blob.key != key],
            key=lambda blob: blob.modified,
        )
        for blob in stored[: max(0, len(stored) + 1 - self.max_per_image)]:
            await self.blobs.delete(blob.key)

    def _fits_working_copy(self, meta: OriginalMeta, spec: TransformSpec) -> bool:
        assert meta.working_size is not None
        return fits_working_copy(
            (meta.width, meta.height),
            meta.working_size,
            spec,
            max_output_pixels=self.max_output_pixels,
        )

    def _wants_working_copy(self, meta: OriginalMeta, spec: TransformSpec) -> bool:
        """Whether the original should have a working copy now: it has none, gets one, and this
        variant would render from it."""
        if meta.working_size is not None or not meta.transformable:
            return False
        if not working_copy.wanted(meta.format, meta.width, meta.height, meta.frames):
            return False
        return fits_working_copy(
            (meta.width, meta.height),
            working_copy.size(meta.width, meta.height),
            spec,
            max_output_pixels=self.max_output_pixels,
        )

    def _make_working_copy_soon(self, located: Located) -> None:
        image = f"{located.shard}/{located.image_id}"
        if image in self._copying:
            return
        task = asyncio.create_task(self._make_working_copy(located))
        self._copying[image] = task
        task.add_done_callback(lambda _: self._copying.pop(image, None))

    async def _make_working_copy(self, located: Located) -> None:
        source: bytes | Path | None = self.blobs.local_path(located.key)
        try:
            if source is None:
                source = await self.blobs.get_bytes(located.key)
            copy = await self.pool.run(jobs.WORKING_COPY, source, located.meta.format)
            await cdn.store_working_copy(self.blobs, located.shard, located.image_id, copy)
        except Exception as error:  # noqa: BLE001 -- only an optimisation: the original serves
            # (busy pool, deleted image, killed render): a later variant tries again
            log.warning("working_copy_failed", original=located.key, error=str(error)[:200])
