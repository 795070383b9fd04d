"""The cdn surface: `/{shard}/{id}.{ext}` — immutable bytes, strong ETags, no database."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from imgpro.cdn import service as cdn
from imgpro.errors import ApiError
from imgpro.ids import is_id, is_shard
from imgpro.runtime import Runtime
from imgpro.storage import BlobNotFound

IMMUTABLE = "public, max-age=31536000, immutable"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def caching_headers(etag: str, content_type: str) -> dict[str, str]:
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": IMMUTABLE,
        "X-Content-Type-Options": "nosniff",
    }
    if content_type == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
    return headers


def not_modified(request: Request, etag: str) -> bool:
    candidates = request.headers.get("if-none-match", "")
    return any(tag.strip() in (f'"{etag}"', f'W/"{etag}"', "*") for tag in candidates.split(","))


async def serve_blob(
    request: Request, runtime: Runtime, key: str, etag: str, content_type: str
) -> Response:
    headers = caching_headers(etag, content_type)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    path = runtime.blobs.local_path(key)
    if path is not None:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise ApiError("not_found", "No such image.") from None
        return FileResponse(path, headers=headers, media_type=content_type, stat_result=stat)
    stream = runtime.blobs.stream(key)
    try:
        first = await anext(stream)
    except (BlobNotFound, StopAsyncIteration):
        raise ApiError("not_found", "No such image.") from None

    async def body():  # type: ignore[no-untyped-def]
        yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(body(), headers=headers, media_type=content_type)


async def serve_image(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    shard = request.path_params["shard"]
    image_id, _, ext = request.path_params["name"].partition(".")
    if not (is_shard(shard) and is_id(image_id)):
        raise ApiError("not_found", "No such image.")
    located = await cdn.locate(runtime.blobs, shard, image_id, ext)
    if located is None:
        raise ApiError("not_found", "No such image.")
    return await serve_blob(
        request, runtime, located.key, located.meta.etag, located.meta.content_type
    )


routes = [Route("/{shard}/{name}", serve_image, methods=["GET", "HEAD"])]
