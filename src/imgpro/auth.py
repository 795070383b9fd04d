"""Who is calling: anonymous, an API key (a personal key: its user's personal workspace; an app
key: the app's own workspace, or for App-wide keys also a connected user's) or an app's machine
secret acting for a user.

Check order on every data endpoint: authentication → ability → body (so a read-only key that
posts `{}` learns `forbidden`, never `validation_error`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import UserStatus
from imgpro.apps import service as apps
from imgpro.errors import ApiError
from imgpro.http import client_ip
from imgpro.keys import service as keys
from imgpro.principal import Principal
from imgpro.runtime import Runtime


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthorized", "Send the credential as Authorization: Bearer <key>.")
    return token.strip()


async def authenticate(request: Request, db: AsyncSession, runtime: Runtime) -> Principal:
    ip = client_ip(request.scope, runtime.settings.trusted_proxies)
    token = bearer_token(request)
    if token is None:
        return Principal.anonymous(ip)
    user_header = request.headers.get("x-img-user")
    if token.startswith(keys.PREFIX):
        principal = await _key_principal(db, token, user_header, ip)
    elif token.startswith(apps.SECRET_PREFIX):
        principal = await _app_principal(db, token, user_header, ip)
    else:
        raise ApiError("unauthorized")
    await runtime.limits.hit(
        f"{runtime.settings.credential_requests_per_minute}/minute", principal.credential
    )
    return principal


async def _app_principal(
    db: AsyncSession, secret: str, user_header: str | None, ip: str
) -> Principal:
    """Secret (401) → app suspended (403) → X-Img-User missing (422) → user (403)."""
    app = await apps.authenticate_app(db, secret)
    acting = await apps.act_for(db, app, user_header)
    return Principal.app(app.id, acting.user.id, acting.workspace, ip)


async def _key_principal(
    db: AsyncSession, token: str, user_header: str | None, ip: str
) -> Principal:
    """Key (401; its user disabled → 401) → for app keys: app suspended (App-wide, 403) →
    X-Img-User (App-wide: 422 / 403 user_forbidden; App storage only: 403 forbidden); a
    personal key with X-Img-User → 422."""
    key = await keys.find_active_key(db, token)
    owner = await accounts.get_user(db, key.user_id) if key else None
    if key is None or owner is None or owner.status != UserStatus.ACTIVE:
        raise ApiError("unauthorized")
    abilities = frozenset(key.abilities.split(","))
    if key.app_id is not None:
        reach = await apps.app_key_reach(db, key, user_header)
        return Principal.api_key(
            key.id,
            reach.workspace,
            abilities,
            ip,
            user_id=None,
            app_id=reach.app.id,
            acting_for=reach.user.id if reach.user else None,
        )
    workspace = await accounts.get_workspace(db, key.workspace_id)
    if workspace is None:
        raise ApiError("unauthorized")
    if user_header:  # an empty header names nobody
        # a personal key only ever acts on its own workspace: refuse rather than ignore the header
        problem = (
            "X-Img-User is for app credentials (a machine secret or an App-wide app key); "
            "a personal API key acts on its own workspace. Remove the header."
        )
        raise ApiError("validation_error", problem, details={"X-Img-User": [problem]})
    return Principal.api_key(key.id, workspace, abilities, ip, user_id=owner.id)
