"""The cdn surface: `/{shard}/{id}.{ext}[?transform]` — immutable bytes, strong ETags, no database.

Hot path of a variant hit: sidecar from the in-process LRU, memoised query parse, one `stat`,
sendfile. A miss counts against the client's render rate, renders once (see `cdn.variants`) and
answers the rendered bytes (a large or ranged one: the stored blob, as a hit).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from imgpro.cdn import service as cdn
from imgpro.cdn.cache import touch_if_stale
from imgpro.cdn.pool import PoolBusy
from imgpro.cdn.variant_files import VariantGone
from imgpro.cdn.variants import Variant, Variants, requested, variant_of
from imgpro.errors import ApiError, busy
from imgpro.http import client_ip
from imgpro.ids import is_id, is_shard
from imgpro.logs import log
from imgpro.media.outputs import RenderRefused
from imgpro.media.transform import canonical
from imgpro.ops.metrics import CDN_CACHE
from imgpro.runtime import Runtime
from imgpro.storage import BlobNotFound

IMMUTABLE = "public, max-age=31536000, immutable"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


# Blobs up to this size are read inline: a local read of a small file costs less than the four
# thread hops of a FileResponse (open, read, read, close), and most variants are this small.
# A request with a Range header gets a FileResponse whatever the size: it answers the ranges.
INLINE_BYTES = 512 * 1024


def answered_inline(size: int, request: Request) -> bool:
    """Whether a local blob of `size` bytes is answered from memory rather than a FileResponse."""
    return size <= INLINE_BYTES and "range" not in request.headers


def read_small(path: Path) -> bytes:
    with open(path, "rb", buffering=0) as handle:
        return handle.readall()


def caching_headers(etag: str, content_type: str) -> dict[str, str]:
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": IMMUTABLE,
        "X-Content-Type-Options": "nosniff",
    }
    if content_type == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
    return headers


def not_modified(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header value names `etag` (or any)."""
    return any(tag.strip() in (f'"{etag}"', f'W/"{etag}"', "*") for tag in if_none_match.split(","))


async def stored(
    request: Request,
    runtime: Runtime,
    key: str,
    etag: str,
    content_type: str,
    *,
    variant: bool = False,
) -> Response | None:
    """The blob under `key` as a response (sendfile when local), or None when there is none.
    A served `variant` is marked as recently used (the variant cache evicts the others first)."""
    headers = caching_headers(etag, content_type)
    path = runtime.blobs.local_path(key)
    if path is not None:
        try:
            stat = os.stat(path)  # a local stat is microseconds: not worth a thread hop
            if variant:
                touch_if_stale(path, stat)
            if answered_inline(stat.st_size, request):
                return Response(read_small(path), headers=headers, media_type=content_type)
        except FileNotFoundError:
            return None
        return FileResponse(path, headers=headers, media_type=content_type, stat_result=stat)
    stream = runtime.blobs.stream(key)
    try:
        first = await anext(stream)
    except (BlobNotFound, StopAsyncIteration):
        return None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(body(), headers=headers, media_type=content_type)


async def serve_blob(
    request: Request, runtime: Runtime, key: str, etag: str, content_type: str
) -> Response:
    if not_modified(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=caching_headers(etag, content_type))
    response = await stored(request, runtime, key, etag, content_type)
    if response is None:
        raise ApiError("not_found", "No such image.")
    return response


async def serve_image(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    shard = request.path_params["shard"]
    image_id, _, ext = request.path_params["name"].partition(".")
    if not (is_shard(shard) and is_id(image_id)):
        raise ApiError("not_found", "No such image.")
    located = await cdn.locate(runtime.blobs, shard, image_id, ext)
    if located is None:
        raise ApiError("not_found", "No such image.")
    meta = located.meta
    spec = requested(request.scope["query_string"].decode("latin-1"))
    variant = variant_of(shard, image_id, meta, spec)
    if variant is None:
        return await serve_blob(request, runtime, located.key, meta.etag, meta.content_type)
    if not_modified(request.headers.get("if-none-match", ""), variant.etag):
        return Response(
            status_code=304, headers=caching_headers(variant.etag, variant.content_type)
        )
    response = await stored(
        request, runtime, variant.key, variant.etag, variant.content_type, variant=True
    )
    if response is not None:
        CDN_CACHE.labels("hit").inc()
        return response
    CDN_CACHE.labels("miss").inc()
    await cdn.count_render(runtime, client_ip(request.scope, runtime.settings.trusted_proxies))
    variants: Variants = request.app.state.variants
    rendered = await make_variant(variants, located, variant)
    headers = caching_headers(variant.etag, variant.content_type)
    if (
        rendered is not None
        and variants.files is not None
        and answered_inline(len(rendered), request)
    ):
        # the bytes just stored in a file, answered as `stored` would answer it, without reading
        # it back (from S3 `stored` streams the blob: that puts it in this node's cache)
        return Response(rendered, headers=headers, media_type=variant.content_type)
    response = await stored(request, runtime, variant.key, variant.etag, variant.content_type)
    if response is None and rendered is not None:  # evicted at once by a full cache
        response = Response(rendered, headers=headers, media_type=variant.content_type)
    if response is None:  # deleted between the render and now
        raise ApiError("not_found", "No such image.")
    return response


async def make_variant(variants: Variants, located: cdn.Located, variant: Variant) -> bytes | None:
    try:
        return await variants.ensure(located, variant)
    except RenderRefused as refused:
        log.warning(
            "render_refused",
            original=located.key,
            transform=canonical(variant.spec),
            reason=refused.reason,
        )
        message = f"This image cannot be rendered: {refused.reason}."
        raise ApiError("media_failed", message) from None
    except PoolBusy as full:
        raise busy(full.retry_after, "Every renderer is busy; retry shortly.") from None
    except VariantGone:
        raise ApiError("not_found", "No such image.") from None


routes = [Route("/{shard}/{name}", serve_image, methods=["GET", "HEAD"])]
