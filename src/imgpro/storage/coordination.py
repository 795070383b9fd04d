"""What nodes tell each other through Redis: which images are gone, and who renders a variant.

Both fail open (decisions.md §6): with Redis unreachable a node logs a warning and keeps serving.
Without the gone feed a node trusts nothing it cached for longer than `UNTRUSTED_SECONDS`, so a
delete still reaches it within the 5 seconds §6 promises; without the render lock two nodes may
render one variant at once, which costs CPU, never correctness (both store identical bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

from imgpro.logs import log

STREAM = "imgpro:gone"
STREAM_LENGTH = 100_000  # a node away longer than this many deletes re-reads everything anyway
RETRY_SECONDS = 1.0


def redis_client(url: str) -> Redis:
    # short timeouts: a dead Redis must cost a request milliseconds, never a hang
    return Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1, decode_responses=True)


class GoneFeed:
    """A Redis stream of deleted image prefixes; every process follows it from where it is."""

    def __init__(self, redis_url: str) -> None:
        self._redis = redis_client(redis_url)
        self.live = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def announce(self, prefix: str) -> None:
        try:
            await self._redis.xadd(
                STREAM, {"prefix": prefix}, maxlen=STREAM_LENGTH, approximate=True
            )
        except RedisError as error:  # the other nodes are untrusting while Redis is away
            log.warning("gone_feed_announce_failed", prefix=prefix, error=str(error))

    def start(self, on_gone: Callable[[str | None], None]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(on_gone))

    async def _follow(self, on_gone: Callable[[str | None], None]) -> None:
        last: str | None = None
        while not self._closing:
            try:
                if last is None:
                    newest: Any = await self._redis.xrevrange(STREAM, count=1)
                    last = str(newest[0][0]) if newest else "0-0"
                if not self.live:
                    on_gone(None)  # deletes made while we were not listening are unknown
                    self.live = True
                    log.info("gone_feed_live")
                batches: Any = await self._redis.xread({STREAM: last}, block=1000, count=500)
                for _stream, entries in batches:
                    for entry_id, fields in entries:
                        last = str(entry_id)
                        on_gone(str(fields["prefix"]))
            except (RedisError, OSError) as error:
                if self.live:
                    log.warning("gone_feed_lost", error=str(error))
                self.live = False
                await asyncio.sleep(RETRY_SECONDS)

    async def close(self) -> None:
        # redis-py may turn a cancelled read into a ConnectionError, which the loop survives:
        # the flag ends it for sure
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()


class RenderLock:
    """One render of a variant across all nodes: the first takes the lock, the others wait for
    it and then find the stored variant."""

    def __init__(self, redis_url: str, hold_seconds: float, wait_seconds: float) -> None:
        self._redis = redis_client(redis_url)
        self.hold_seconds = hold_seconds
        self.wait_seconds = wait_seconds

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        lock = self._redis.lock(
            f"imgpro:render:{key}",
            timeout=self.hold_seconds,
            blocking_timeout=self.wait_seconds,
            thread_local=False,
        )
        try:
            acquired = await lock.acquire()
        except RedisError as error:
            log.warning("render_lock_unavailable", key=key, error=str(error))
            acquired = False
        if not acquired:  # Redis away, or the holder is slow: render anyway (fail open)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(LockError, RedisError):  # expired or Redis gone: TTL frees it
                await lock.release()

    async def close(self) -> None:
        await self._redis.aclose()
