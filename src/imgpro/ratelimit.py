"""Rate limits on the `limits` library: in process by default, in Redis when IMGPRO_REDIS_URL
is set. With Redis unreachable every limit fails open (decisions.md §6): a warning is logged and
the request goes on, since refusing everyone would turn a Redis outage into an imgpro outage."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from imgpro.clients import errors_of
from imgpro.errors import rate_limited
from imgpro.logs import log

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool


@contextlib.contextmanager
def failing_open(rule: str | RateLimitItem) -> Iterator[None]:
    try:
        yield
    except errors_of("redis.exceptions", "RedisError") as error:
        log.warning("rate_limit_unavailable", rule=str(rule), error=str(error))


#: Seconds between two sweeps of expired entries from the in-process storage.
SWEEP_SECONDS = 1.0


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage with its sweep of expired entries at most once a second.
    limits starts a sweep after every hit, and a sweep is a task plus a thread hop per counted
    key: a cost on every rate-limited request (each cache miss) that grows with the clients.
    No count depends on the sweep (a window reads only its entries' times); it frees memory."""

    _next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # limits' private hook
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class RateLimits:
    # the first part of every bucket's key in this process: empty when serving; the test suite
    # sets one per test (tests/conftest.py), so a server that outlives a test never carries its
    # counts into the next one
    namespace: ClassVar[str] = ""

    def __init__(self, redis_url: str = "") -> None:
        storage: Storage = SweptMemoryStorage()
        self._pool: ConnectionPool | None = None
        if redis_url:
            # our own pool, so close() can release its connections at shutdown
            from limits.aio.storage import RedisStorage
            from redis.asyncio import ConnectionPool  # only when configured (imgpro.clients)

            # short timeouts: with Redis away a request waits a moment, then fails open
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
        with failing_open(item):
            if not await self._limiter.hit(item, *_bucket(identity)):
                await self._refuse(item, identity, message)

    async def check(self, rule: RateLimitItem, *identity: str, message: str | None = None) -> None:
        """Raise 429 rate_limited when the window is full; counts nothing (count with `hit`
        once the outcome is known, e.g. only wrong answers)."""
        with failing_open(rule):
            if not await self._limiter.test(rule, *_bucket(identity)):
                await self._refuse(rule, identity, message)

    async def _refuse(
        self, item: RateLimitItem, identity: tuple[str, ...], message: str | None
    ) -> None:
        stats = await self._limiter.get_window_stats(item, *_bucket(identity))
        raise rate_limited(int(stats.reset_time - time.time()) + 1, message)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()


def _bucket(identity: tuple[str, ...]) -> tuple[str, ...]:
    namespace = RateLimits.namespace
    return (namespace, *identity) if namespace else identity
