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


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    limits: RateLimits
    workdir: Path
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
            blobs=open_store(settings.storage_url),
            limits=RateLimits(settings.redis_url),
            workdir=workdir,
        )

    async def close(self) -> None:
        for closer in self.closers:
            closer()
        await self.engine.dispose()
        await self.limits.close()
