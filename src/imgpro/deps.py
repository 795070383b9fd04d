"""FastAPI dependency aliases that make routes read like sentences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.auth import Principal, authenticate
from imgpro.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as db:
        yield db


Rt = Annotated[Runtime, Depends(runtime)]
Db = Annotated[AsyncSession, Depends(session)]


async def caller(request: Request, db: Db, rt: Rt) -> Principal:
    return await authenticate(request, db, rt)


Caller = Annotated[Principal, Depends(caller)]
