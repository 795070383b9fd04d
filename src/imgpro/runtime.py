"""What a running imgpro holds: settings, database, blob store, limiters, render processes — one
per process."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imgpro.cdn.pool import RenderPool
from imgpro.db.engine import make_engine, make_sessionmaker
from imgpro.media import jobs
from imgpro.ratelimit import RateLimits
from imgpro.settings import Settings
from imgpro.storage import BlobStore, open_store

if TYPE_CHECKING:
    from imgpro.storage.coordination import RenderLock

#: A render process still running this long after its time budget is killed: libvips stops
#: itself at the budget where it can; the kill is for where it can't.
KILL_GRACE_SECONDS = 1.0


def _vips_threads(render_processes: int) -> int:
    """libvips' own threads per render: the cores each render process gets (0 = leave it to
    VIPS_CONCURRENCY). By default there is a render process per core, so one: more threads
    only contend."""
    if os.environ.get("VIPS_CONCURRENCY"):
        return 0
    return max(1, (os.cpu_count() or 1) // render_processes)


def render_pool(settings: Settings) -> RenderPool:
    """The processes that do every pixel's work (variants, uploads, working copies): this
    process imports no pixel library (`imgpro.media.jobs`). They start on first use."""
    workers = settings.render_workers or os.cpu_count() or 1
    return RenderPool(
        workers,
        settings.render_queue,
        settings.render_wait_seconds,
        kill_after=settings.render_time_budget + KILL_GRACE_SECONDS,
        preload=(jobs.RENDER.module,),
        vips_threads=_vips_threads(workers),
        max_bytes=settings.render_process_max_bytes,
    )


def _render_lock(settings: Settings) -> RenderLock | None:
    """One render per variant across nodes: only with Redis, whose client is imported only then
    (`imgpro.clients`)."""
    if not settings.redis_url:
        return None
    from imgpro.storage.coordination import RenderLock

    # held for a render at most; waiters wait as long, then render themselves
    seconds = settings.render_time_budget + settings.render_wait_seconds
    return RenderLock(settings.redis_url, hold_seconds=seconds, wait_seconds=seconds)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    limits: RateLimits
    renders: RenderPool
    workdir: Path
    render_lock: RenderLock | None
    extras: dict[str, Any] = field(default_factory=dict)  # per-domain singletons (mailer, ...)
    closers: list[Callable[[], None]] = field(default_factory=list)  # run by close()

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        workdir = settings.data_dir / "tmp"
        workdir.mkdir(exist_ok=True)
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            blobs=open_store(settings),
            limits=RateLimits(settings.redis_url),
            renders=render_pool(settings),
            workdir=workdir,
            render_lock=_render_lock(settings),
        )

    async def start(self) -> None:
        """Background work of a serving process (in its event loop)."""
        await self.blobs.start()

    async def close(self) -> None:
        for closer in self.closers:
            closer()
        self.renders.close()  # its render processes end with this one
        await self.engine.dispose()
        await self.limits.close()
        await self.blobs.close()
        if self.render_lock is not None:
            await self.render_lock.close()
