"""Who is calling: anonymous, an API key (a personal key: its user's personal workspace; an app
key: the app's own workspace, or for App-wide keys also a connected user's) or an app's machine
secret acting for a user.

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
    kind: str  # anonymous | key | app (the machine secret)
    workspace: Workspace | None
    abilities: frozenset[str]
    scope: str  # whose Idempotency-Keys: key:<id>[:<user>], app:<id>:<user>, ip:<a>
    client_ip: str
    app_id: str | None = None
    user_id: str | None = None
    credential: str = ""  # whose rate limit: key:<id> or app:<id> (an app's users share it)

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
    return Principal(
        "app",
        acting.workspace,
        frozenset({"read", "write"}),
        f"app:{app.id}:{acting.user.id}",
        ip,
        app_id=app.id,
        user_id=acting.user.id,
        credential=f"app:{app.id}",
    )


async def _key_principal(
    db: AsyncSession, token: str, user_header: str | None, ip: str
) -> Principal:
    """Key (401; its user disabled → 401) → for app keys: app suspended (App-wide, 403) →
    X-Img-User (App-wide: 422 / 403 user_forbidden; App storage only: 403 forbidden); a
    personal key with X-Img-User → 422."""
    key = await keys.find_active_key(db, token)
    owner = await accounts.get_user(db, key.user_id) if key else None
    if key is None or owner is None or owner.status != "active":
        raise ApiError("unauthorized")
    abilities = frozenset(key.abilities.split(","))
    credential = f"key:{key.id}"
    if key.app_id is not None:
        reach = await apps.app_key_reach(db, key, user_header)
        acting_for = reach.user.id if reach.user else None
        return Principal(
            "key",
            reach.workspace,
            abilities,
            f"{credential}:{acting_for}" if acting_for else credential,
            ip,
            app_id=reach.app.id,
            user_id=acting_for,
            credential=credential,
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
    return Principal(
        "key", workspace, abilities, credential, ip, user_id=owner.id, credential=credential
    )
