"""Rate limits on the `limits` library: in process by default, in Redis when IMGPRO_REDIS_URL
is set."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from imgpro.errors import rate_limited
from imgpro.logs import log


class RateLimits:
    def __init__(self, redis_url: str = "") -> None:
        storage: Storage = MemoryStorage()
        self._pool: ConnectionPool | None = None
        if redis_url:
            # our own pool, so close() can release its connections at shutdown
            # short timeouts: with Redis away a request waits milliseconds, then fails open
            self._pool = ConnectionPool.from_url(
                redis_url, socket_timeout=2, socket_connect_timeout=1
            )
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed on to redis-py
            )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(
        self, rule: str | RateLimitItem, *identity: str, message: str | None = None
    ) -> None:
        """Count one hit; raise 429 rate_limited with the wait until the window frees."""
        item = parse(rule) if isinstance(rule, str) else rule
        try:
            if await self._limiter.hit(item, *identity):
                return
            stats = await self._limiter.get_window_stats(item, *identity)
        except RedisError as error:  # fail open (decisions.md §6): a limit is not worth an outage
            log.warning("rate_limit_unavailable", rule=str(item), error=str(error))
            return
        raise rate_limited(int(stats.reset_time - time.time()) + 1, message)

    async def test(self, rule: str, *identity: str) -> bool:
        """Would one more hit pass? Counts nothing (and passes while Redis is away)."""
        try:
            return await self._limiter.test(parse(rule), *identity)
        except RedisError as error:
            log.warning("rate_limit_unavailable", rule=rule, error=str(error))
            return True

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def clear(self, rule: str, *identity: str) -> None:
        await self._limiter.clear(parse(rule), *identity)
