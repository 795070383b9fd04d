"""The one way a POST honours Idempotency-Key: check the key (after auth and ability, which
the route has done), run the work once per (caller, key) and answer the first response to every
retry of the same request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from imgpro.idempotency import service as idempotency


async def answer_once(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str | None,
    request_hash: str,
    status: int,
    produce: Callable[[], Awaitable[BaseModel]],
) -> Response:
    async def run() -> tuple[int, str]:
        return status, (await produce()).model_dump_json()

    if key is None:
        status_code, body = await run()
    else:
        idempotency.check_key(key)
        status_code, body = await idempotency.run_once(sessions, scope, key, request_hash, run)
    return Response(body, status_code=status_code, media_type="application/json")
