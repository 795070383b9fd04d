"""What a running imgpro holds: settings, database, blob store, limiters — one per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imgpro.db.engine import make_engine, make_sessionmaker
from imgpro.ratelimit import RateLimits
from imgpro.settings import Settings
from imgpro.storage import BlobStore, open_store
from imgpro.storage.coordination import RenderLock


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    limits: RateLimits
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
            workdir=workdir,
            render_lock=RenderLock(
                settings.redis_url,
                # held for a render at most; waiters wait as long, then render themselves
                hold_seconds=settings.render_time_budget + settings.render_wait_seconds,
                wait_seconds=settings.render_time_budget + settings.render_wait_seconds,
            )
            if settings.redis_url
            else None,
        )

    async def start(self) -> None:
        """Background work of a serving process (in its event loop)."""
        await self.blobs.start()

    async def close(self) -> None:
        for closer in self.closers:
            closer()
        await self.engine.dispose()
        await self.limits.close()
        await self.blobs.close()
        if self.render_lock is not None:
            await self.render_lock.close()
