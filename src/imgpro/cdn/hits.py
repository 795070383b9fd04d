"""The CDN's hit path: a stored original or variant, small and on the local disk, sent in raw
ASGI before any middleware or routing runs.

A hit through the full stack cost ~0.2 ms of CPU, nine tenths of it in what wraps the answer
(request context, surface routing, Starlette's middleware and routing, Response objects, a JSON
log line) rather than in the `stat` and the read. `HitPath` answers what it can from the caches
a hit already uses (the sidecar LRU, the memoised query parse and variant name) plus the bytes
of the hottest blobs (`HotBlobs`), and hands everything else to the full stack untouched:
misses, HEAD, Range, sidecars not cached yet, blobs over `INLINE_BYTES` or not local. What a
client sees does not change: the same headers (ETag, immutable Cache-Control, nosniff, the SVG
CSP, X-Request-Id), the same 304s, the same metrics. One thing does: hits answered here are
logged as one `cdn_hits` summary line a second (`HitLog`), not a line each.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from imgpro import tokens
from imgpro.cdn import service as cdn
from imgpro.cdn.cache import touch_if_stale
from imgpro.cdn.routes import INLINE_BYTES, caching_headers, not_modified, read_small
from imgpro.cdn.variants import requested, variant_of
from imgpro.http import valid_request_id
from imgpro.ids import is_id, is_shard
from imgpro.logs import log
from imgpro.ops.metrics import CDN_CACHE, HTTP_DURATION, HTTP_REQUESTS
from imgpro.storage import BlobStore

Headers = list[tuple[bytes, bytes]]


@functools.lru_cache(maxsize=4096)
def raw_caching_headers(etag: str, content_type: str) -> tuple[tuple[bytes, bytes], ...]:
    """`caching_headers` as ASGI header pairs (memoised: a hot blob encodes nothing twice)."""
    pairs = caching_headers(etag, content_type).items()
    return tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


class HotBlobs:
    """The bytes of the small blobs served most recently, at most `max_bytes` of them: a hit
    then costs a `stat` and no open/read/close. An entry is used only while the file's inode,
    size and mtime are those it was read with (a variant's mtime moves when it is marked used,
    at most once a minute; then it is read again), and the `stat` still runs on every hit, so a
    deleted or evicted blob is never served from here."""

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        # keyed by str, not Path: hashing a Path costs more than the lookup it is for
        self._items: OrderedDict[str, tuple[tuple[int, int, int], bytes]] = OrderedDict()
        self._bytes = 0

    def read(self, path: str, stat: os.stat_result) -> bytes:
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        item = self._items.get(path)
        if item is not None and item[0] == version:
            self._items.move_to_end(path)
            return item[1]
        body = read_small(Path(path))
        if item is not None:
            self._bytes -= len(item[1])
        self._items[path] = (version, body)
        self._items.move_to_end(path)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, (_, evicted) = self._items.popitem(last=False)
            self._bytes -= len(evicted)
        return body


class HitLog:
    """Hits answered by `HitPath`, logged as one `cdn_hits` line per `every` seconds in which
    there were any (a JSON line per hit cost as much CPU as serving it). The line counts the
    answers (`ok`, `not_modified`), the bytes sent and the mean and longest time in imgpro."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._flush: asyncio.TimerHandle | None = None
        self._clear()

    def _clear(self) -> None:
        self.ok = self.not_modified = self.bytes = 0
        self.seconds = self.longest = 0.0

    def add(self, status: int, size: int, seconds: float) -> None:
        if status == 304:
            self.not_modified += 1
        else:
            self.ok += 1
        self.bytes += size
        self.seconds += seconds
        self.longest = max(self.longest, seconds)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.every, self.flush)

    def flush(self) -> None:
        """Write the line for the hits so far (the timer does; so does shutdown)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        count = self.ok + self.not_modified
        if count:
            log.info(
                "cdn_hits",
                ok=self.ok,
                not_modified=self.not_modified,
                bytes=self.bytes,
                ms_mean=round(self.seconds / count * 1000, 2),
                ms_max=round(self.longest * 1000, 1),
                every_s=self.every,
            )
        self._clear()


class HitPath:
    """Outermost ASGI app: answers CDN hits itself (see the module), passes the rest to `app`.
    `cdn_path` is the path the cdn surface would see for a request of its, else None."""

    def __init__(
        self,
        app: ASGIApp,
        cdn_path: Callable[[Scope], str | None],
        blobs: BlobStore,
        hit_log: HitLog,
    ) -> None:
        self.app = app
        self.cdn_path = cdn_path
        self.blobs = blobs
        self.hit_log = hit_log
        self.hot = HotBlobs()
        # the cdn surface's series, as `Measured` names them; labelled once, not per hit
        self.answered = {status: HTTP_REQUESTS.labels("cdn", str(status)) for status in (200, 304)}
        self.duration = HTTP_DURATION.labels("cdn")
        self.cache_hit = CDN_CACHE.labels("hit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = self.cdn_path(scope)
            if path is not None and await self._hit(scope, path, send):
                return
        await self.app(scope, receive, send)

    async def _hit(self, scope: Scope, path: str, send: Send) -> bool:
        """Answer a hit and return True, or return False having sent nothing."""
        started = time.perf_counter()
        if_none_match = request_id = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = valid_request_id(value)
            elif name == b"range":
                return False
        answer = self._answer(path, scope["query_string"], if_none_match)
        if answer is None:
            return False
        status, headers, body = answer
        headers.append((b"x-request-id", (request_id or tokens.hex_token(8)).encode()))
        self.duration.observe(time.perf_counter() - started)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.answered[status].inc()
        self.hit_log.add(status, len(body), time.perf_counter() - started)
        return True

    def _answer(
        self, path: str, query: bytes, if_none_match: str | None
    ) -> tuple[int, Headers, bytes] | None:
        """(status, headers, body) of a hit, or None for the full stack to answer."""
        shard, _, name = path[1:].partition("/")
        image_id, _, ext = name.partition(".")
        if not (is_shard(shard) and is_id(image_id)):
            return None
        located = cdn.locate_cached(self.blobs, shard, image_id, ext)
        if located is None:
            return None
        spec = requested(query.decode("latin-1"))
        variant = variant_of(shard, image_id, located.meta, spec)
        if variant is None:
            key, etag, content_type = located.key, located.meta.etag, located.meta.content_type
        else:
            key, etag, content_type = variant.key, variant.etag, variant.content_type
        headers = list(raw_caching_headers(etag, content_type))
        if if_none_match is not None and not_modified(if_none_match, etag):
            return 304, headers, b""
        local = self.blobs.local_path(key)
        if local is None:
            return None
        try:
            file = os.fspath(local)
            stat = os.stat(file)
            if stat.st_size > INLINE_BYTES:
                return None
            body = self.hot.read(file, stat)
            if variant is not None:
                touch_if_stale(local, stat)
        except OSError:  # never stored or evicted (a miss), or unreadable: the full stack's answer
            return None
        if variant is not None:
            self.cache_hit.inc()
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-type", content_type.encode("latin-1")))
        return 200, headers, body
