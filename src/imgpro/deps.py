"""FastAPI dependency aliases that make routes read like sentences.

The credential and header parameters here are what /openapi.json shows (security schemes,
`X-Img-User`, `Idempotency-Key`); the checks themselves run in `auth.authenticate` and the
routes, in the order auth → ability → body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.apps import service as apps
from imgpro.apps.tables import App
from imgpro.auth import authenticate, bearer_token
from imgpro.errors import ApiError
from imgpro.idempotency.service import MAX_KEY_LENGTH, WINDOW
from imgpro.principal import Principal
from imgpro.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as db:
        yield db


Rt = Annotated[Runtime, Depends(runtime)]
Db = Annotated[AsyncSession, Depends(session)]

# documentation only (auto_error=False): authenticate() reads and checks the header itself
api_key_scheme = HTTPBearer(
    scheme_name="apiKey",
    bearerFormat="img_live_…",
    description="An API key (read and/or write abilities); acts on its owner's workspace.",
    auto_error=False,
)
app_secret_scheme = HTTPBearer(
    scheme_name="appSecret",
    bearerFormat="img_sk_live_…",
    description="An app's machine secret; data calls name the user with X-Img-User.",
    auto_error=False,
)
ApiKey = Annotated[HTTPAuthorizationCredentials | None, Security(api_key_scheme)]
AppSecret = Annotated[HTTPAuthorizationCredentials | None, Security(app_secret_scheme)]
ImgUser = Annotated[
    str | None,
    Header(
        alias="X-Img-User",
        description="With an app secret or an App-wide app key: the id of the connected user "
        "the call acts for (from auth/exchange). A personal API key with this header gets 422 "
        "validation_error.",
    ),
]


async def caller(
    request: Request, db: Db, rt: Rt, _key: ApiKey, _secret: AppSecret, _user: ImgUser = None
) -> Principal:
    return await authenticate(request, db, rt)


Caller = Annotated[Principal, Depends(caller)]


async def calling_app(request: Request, db: Db, rt: Rt, _secret: AppSecret) -> App:
    """Calls only an app's backend makes (no user): its machine secret, counted per app."""
    secret = bearer_token(request)
    if secret is None or not secret.startswith(apps.SECRET_PREFIX):
        raise ApiError("unauthorized", "Send the app's machine secret: Bearer img_sk_live_...")
    app = await apps.authenticate_app(db, secret)
    await rt.limits.hit(f"{rt.settings.credential_requests_per_minute}/minute", f"app:{app.id}")
    return app


CallingApp = Annotated[App, Depends(calling_app)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=(
            f"Retries with the same key and request within {WINDOW.total_seconds() / 3600:g} "
            "hours answer the first response; the same key with another request is a conflict."
        ),
        # checked after auth and ability (idempotency.check_key), so only documented here
        json_schema_extra={"maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    ),
]
