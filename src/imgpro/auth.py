"""Who is calling: anonymous, an API key (its personal workspace) or an app acting for a user.

Check order on every data endpoint: authentication → ability → body (so a read-only key that
posts `{}` learns `forbidden`, never `validation_error`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import Workspace
from imgpro.apps import service as apps
from imgpro.errors import ApiError
from imgpro.http import client_ip
from imgpro.keys import service as keys
from imgpro.runtime import Runtime


@dataclass(frozen=True)
class Principal:
    kind: str  # anonymous | key | app
    workspace: Workspace | None
    abilities: frozenset[str]
    scope: str  # who counts for rate limits and Idempotency-Key: key:<id>, app:<id>:<user>, ip:<a>
    client_ip: str
    app_id: str | None = None
    user_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def require(self, ability: str) -> Workspace:
        """The workspace this caller acts on, if it may use `ability`."""
        self.require_ability(ability)
        if self.workspace is None:
            raise ApiError("unauthorized", "This endpoint needs an API key or an app secret.")
        return self.workspace

    def require_ability(self, ability: str) -> None:
        """Anonymous callers may create (write), nothing else."""
        if self.is_anonymous and ability != "write":
            raise ApiError("unauthorized", "This endpoint needs an API key or an app secret.")
        if ability not in self.abilities:
            raise ApiError("forbidden", f"This key lacks the {ability} ability.")


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
        return Principal("anonymous", None, frozenset({"write"}), f"ip:{ip}", ip)
    if token.startswith(keys.PREFIX):
        principal = await _key_principal(db, token, ip)
    elif token.startswith(apps.SECRET_PREFIX):
        principal = await _app_principal(db, token, request.headers.get("x-img-user"), ip)
    else:
        raise ApiError("unauthorized")
    # the limit is per credential: an app's users share its budget
    credential = f"app:{principal.app_id}" if principal.kind == "app" else principal.scope
    await runtime.limits.hit(
        f"{runtime.settings.credential_requests_per_minute}/minute", credential
    )
    return principal


async def _app_principal(
    db: AsyncSession, secret: str, user_header: str | None, ip: str
) -> Principal:
    """Secret (401) → app suspended (403) → X-Img-User missing (422) → user (403)."""
    app = await apps.authenticate_app(db, secret)
    acting = await apps.act_for(db, app, user_header)
    return Principal(
        "app",
        acting.workspace,
        frozenset({"read", "write"}),
        f"app:{app.id}:{acting.user.id}",
        ip,
        app_id=app.id,
        user_id=acting.user.id,
    )


async def _key_principal(db: AsyncSession, token: str, ip: str) -> Principal:
    key = await keys.find_active_key(db, token)
    workspace = await accounts.get_workspace(db, key.workspace_id) if key else None
    user = await accounts.get_user(db, key.user_id) if key else None
    if key is None or workspace is None or user is None or user.status != "active":
        raise ApiError("unauthorized")
    return Principal(
        "key",
        workspace,
        frozenset(key.abilities.split(",")),
        f"key:{key.id}",
        ip,
        user_id=user.id,
    )
