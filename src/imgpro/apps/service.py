"""Apps: the registry (register, edit, rotate the secret, delete; operator switches), users'
connections (hosted-login consent, revoke), connect codes and their exchange, the
`X-Img-User` sandbox that resolves an app's call to that user's workspace in that app, and the
app's own storage with the app keys that act on it (decisions.md §10).

Who commits: every use case here that changes something commits (register, edit, connect,
exchange, create_app_key, ...); storage_workspace is a step and runs in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro import tokens
from imgpro.accounts import service as accounts
from imgpro.accounts.tables import User, UserStatus, Workspace, WorkspaceKind
from imgpro.apps.rules import (
    ConnectRefused,
    ConnectRequest,
    check_app_name,
    check_redirect_uris,
    pkce_matches,
)
from imgpro.apps.tables import App, AppConnection, AppStatus, ConnectCode
from imgpro.billing.plans import FREE, Catalogue
from imgpro.db.base import utcnow
from imgpro.errors import ApiError, invalid
from imgpro.ids import is_id, new_id, new_shard
from imgpro.images import service as images
from imgpro.images.tables import Image
from imgpro.keys import service as keys
from imgpro.keys.tables import ApiKey
from imgpro.storage import BlobStore
from imgpro.webhooks import service as webhooks

SECRET_PREFIX = "img_sk_live_"
CONNECT_CODE_LIFETIME = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedSecret:
    """An app with its machine secret as created: the secret is never shown again."""

    app: App
    secret: str


@dataclass(frozen=True)
class Connection:
    """One row of a user's "Connected apps"."""

    app: App
    workspace: Workspace
    image_count: int


@dataclass(frozen=True)
class Acting:
    """An app call resolved through X-Img-User."""

    app: App
    user: User
    workspace: Workspace


@dataclass(frozen=True)
class AppKeyReach:
    """Where an app key's call acts: the app's own workspace, or (App-wide, with X-Img-User)
    that user's workspace in the app."""

    app: App
    workspace: Workspace
    user: User | None


def _new_secret() -> tuple[str, str, str]:
    secret = SECRET_PREFIX + tokens.random_string(32, tokens.BASE62)
    return secret, keys.hash_secret(secret), f"{secret[:16]}…{secret[-4:]}"


# ---- the registry ---------------------------------------------------------------------------


async def may_register_apps(db: AsyncSession, user: User, plans: Catalogue) -> bool:
    """Registering apps is for paid img.pro users (their personal workspace's plan)."""
    workspace = await accounts.personal_workspace(db, user.id)
    return plans.get(workspace.plan).is_paid


async def register(
    db: AsyncSession,
    owner: User,
    name: str,
    redirect_uris: Sequence[str],
    *,
    plans: Catalogue,
    require_paid: bool = True,
) -> IssuedSecret:
    name = check_app_name(name)
    uris = check_redirect_uris(redirect_uris)
    if require_paid and not await may_register_apps(db, owner, plans):
        raise ApiError("forbidden", "Registering apps needs a paid plan (Pro, Scale or Max).")
    secret, digest, hint = _new_secret()
    app = App(
        id=new_id(),
        owner_id=owner.id,
        name=name,
        redirect_uris=uris,
        secret_hash=digest,
        secret_hint=hint,
    )
    db.add(app)
    await db.commit()
    return IssuedSecret(app, secret)


async def get_app(db: AsyncSession, app_id: str) -> App | None:
    return await db.get(App, app_id) if is_id(app_id) else None


async def owned_app(db: AsyncSession, owner: User, app_id: str) -> App | None:
    app = await get_app(db, app_id)
    return app if app is not None and app.owner_id == owner.id else None


async def owned_apps(db: AsyncSession, owner: User) -> list[App]:
    rows = await db.execute(
        select(App).where(App.owner_id == owner.id).order_by(App.created_at.desc())
    )
    return list(rows.scalars())


async def list_apps(db: AsyncSession) -> list[tuple[App, str, int]]:
    """Every app, oldest first, with its owner's email and its connected users (for operators)."""
    users = (
        select(func.count())
        .where(AppConnection.app_id == App.id, AppConnection.revoked_at.is_(None))
        .correlate(App)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(App, User.email, users)
        .join(User, User.id == App.owner_id)
        .order_by(App.created_at, App.id)
    )
    return [(app, email, count) for app, email, count in rows.all()]


async def edit(db: AsyncSession, app: App, name: str, redirect_uris: Sequence[str]) -> App:
    name = check_app_name(name)
    uris = check_redirect_uris(redirect_uris)
    app.name = name
    app.redirect_uris = uris
    await db.commit()
    return app


async def rotate_secret(db: AsyncSession, app: App) -> IssuedSecret:
    """A new secret; the old one stops working at once."""
    secret, digest, hint = _new_secret()
    app.secret_hash = digest
    app.secret_hint = hint
    await db.commit()
    return IssuedSecret(app, secret)


async def set_verified(db: AsyncSession, app: App, verified: bool) -> App:
    app.verified = verified
    await db.commit()
    return app


async def set_status(db: AsyncSession, app: App, status: AppStatus) -> App:
    app.status = status
    await db.commit()
    return app


async def _app_workspace_ids(db: AsyncSession, app_ids: list[str]) -> list[str]:
    rows = await db.execute(select(Workspace.id).where(Workspace.app_id.in_(app_ids)))
    return list(rows.scalars())


async def delete_app(db: AsyncSession, blobs: BlobStore, app: App) -> None:
    """Delete the app with its connections and every workspace, image and blob it holds."""
    stored = await images.stored_in(db, await _app_workspace_ids(db, [app.id]))
    await db.delete(app)
    await db.commit()
    await images.unpublish_all(blobs, stored)


async def delete_account(db: AsyncSession, blobs: BlobStore, user: User) -> None:
    """Delete a user with every workspace (personal, one per connected app), image and blob,
    and the apps they registered with the workspaces those hold."""
    owned = [app.id for app in await owned_apps(db, user)]
    workspace_ids = await accounts.workspace_ids_of(db, user.id)
    workspace_ids += await _app_workspace_ids(db, owned) if owned else []
    stored = await images.stored_in(db, workspace_ids)
    await webhooks.emit_user_gone(db, user.id, await accounts.workspaces_of(db, user.id))
    for app in await owned_apps(db, user):
        await db.delete(app)
    await db.flush()  # the apps first: the unit of work does not know they belong to the user
    await accounts.delete_user(db, user)
    await db.commit()
    await images.unpublish_all(blobs, stored)


async def find_by_secret(db: AsyncSession, secret: str) -> App | None:
    """Looked up by hash (a unique index): the secret itself is never compared."""
    return (
        await db.execute(select(App).where(App.secret_hash == keys.hash_secret(secret)))
    ).scalar()


# ---- connections ----------------------------------------------------------------------------


async def connection_of(db: AsyncSession, app_id: str, user_id: str) -> AppConnection | None:
    connection = await db.get(AppConnection, (app_id, user_id))
    return connection if connection is not None and connection.revoked_at is None else None


async def connect(db: AsyncSession, app: App, user: User) -> Workspace:
    """Record consent; the user's workspace in this app is created on the first connect and
    found again on a reconnect after a revoke."""
    workspace = (
        await db.execute(
            select(Workspace).where(Workspace.user_id == user.id, Workspace.app_id == app.id)
        )
    ).scalar()
    if workspace is None:
        workspace = Workspace(
            id=new_id(),
            shard=new_shard(),
            kind=WorkspaceKind.APP,
            user_id=user.id,
            app_id=app.id,
        )
        db.add(workspace)
        await db.flush()
    connection = await db.get(AppConnection, (app.id, user.id))
    if connection is None or connection.revoked_at is not None:
        # a consent the app did not have: the first, or the first after a revoke
        await webhooks.emit(db, workspace, "user.connected")
    if connection is None:
        db.add(AppConnection(app_id=app.id, user_id=user.id, workspace_id=workspace.id))
    else:
        connection.revoked_at = None
        connection.connected_at = utcnow()
    await db.commit()
    return workspace


async def connections(db: AsyncSession, user: User) -> list[Connection]:
    rows = await db.execute(
        select(App, Workspace, func.count(Image.id))
        .join(AppConnection, AppConnection.app_id == App.id)
        .join(Workspace, Workspace.id == AppConnection.workspace_id)
        .outerjoin(Image, Image.workspace_id == Workspace.id)
        .where(AppConnection.user_id == user.id, AppConnection.revoked_at.is_(None))
        .group_by(App.id, Workspace.id)
        .order_by(App.name)
    )
    return [Connection(app, workspace, count) for app, workspace, count in rows.all()]


async def revoke(db: AsyncSession, user: User, app_id: str) -> bool:
    """Disconnect: the app gets user_forbidden for this user until they connect again."""
    result = await db.execute(
        update(AppConnection)
        .where(
            AppConnection.app_id == app_id,
            AppConnection.user_id == user.id,
            AppConnection.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    revoked = bool(result.rowcount)  # type: ignore[attr-defined]
    if revoked:
        await webhooks.emit_to_app(db, app_id, "user.disconnected", user=webhooks.user_ref(user.id))
    await db.commit()
    return revoked


# ---- connect codes and the exchange ---------------------------------------------------------


def _code_hash(code: str) -> str:
    return tokens.digest(code)


async def issue_connect_code(
    db: AsyncSession, app: App, user: User, redirect_uri: str, code_challenge: str | None
) -> str:
    code = tokens.url_token(32)  # 256 random bits
    db.add(
        ConnectCode(
            code_hash=_code_hash(code),
            app_id=app.id,
            user_id=user.id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            expires_at=utcnow() + CONNECT_CODE_LIFETIME,
        )
    )
    await db.commit()
    return code


async def exchange(db: AsyncSession, app: App, code: str, verifier: str | None) -> User:
    """Trade a callback code for the user who signed in; any problem with the code →
    invalid_code."""
    record = await db.get(ConnectCode, _code_hash(code)) if len(code) <= 256 else None
    now = utcnow()
    if record is None or record.app_id != app.id:
        raise ApiError("invalid_code")
    claimed = await db.execute(
        update(ConnectCode)
        .where(ConnectCode.code_hash == record.code_hash, ConnectCode.used_at.is_(None))
        .values(used_at=now)
    )
    await db.commit()
    if claimed.rowcount != 1 or record.expires_at <= now:  # type: ignore[attr-defined]
        raise ApiError("invalid_code")
    if record.code_challenge is None:
        if verifier is not None:
            raise ApiError("invalid_code", "This code was issued without a PKCE challenge.")
    elif verifier is None or not pkce_matches(record.code_challenge, verifier):
        raise ApiError("invalid_code", "The code_verifier does not match the code_challenge.")
    user = await accounts.get_user(db, record.user_id)
    if (
        user is None
        or user.status != UserStatus.ACTIVE
        or await connection_of(db, app.id, user.id) is None
    ):
        raise ApiError("invalid_code")
    return user


# ---- acting for a user ----------------------------------------------------------------------


async def authenticate_app(db: AsyncSession, secret: str) -> App:
    """The app this secret belongs to: unknown → 401, suspended (or owner disabled) → 403."""
    app = await find_by_secret(db, secret)
    if app is None:
        raise ApiError("unauthorized")
    owner = await accounts.get_user(db, app.owner_id)
    if app.status != AppStatus.ACTIVE or owner is None or owner.status != UserStatus.ACTIVE:
        raise ApiError("app_suspended")
    return app


async def act_for(db: AsyncSession, app: App, user_header: str | None) -> Acting:
    """Resolve X-Img-User to that user's workspace in this app; every failure is the same
    403 user_forbidden, so an app learns nothing about users that are not its own."""
    if user_header is None or not user_header.strip():
        raise invalid("X-Img-User", "App calls need X-Img-User: <user id> from the exchange.")
    forbidden = ApiError("user_forbidden")
    user_id = user_header.strip()
    if not is_id(user_id):
        raise forbidden
    connection = await connection_of(db, app.id, user_id)
    user = await accounts.get_user(db, user_id) if connection else None
    workspace = await accounts.get_workspace(db, connection.workspace_id) if connection else None
    if user is None or user.status != UserStatus.ACTIVE or workspace is None:
        raise forbidden
    return Acting(app, user, workspace)


async def resolve_connect(db: AsyncSession, request: ConnectRequest) -> App:
    """The app a checked `/connect` request names: unknown app or an unregistered redirect URI
    (byte for byte) → 400 page, suspended app → 403 page."""
    app = await get_app(db, request.app_id)
    if app is None:
        raise ConnectRefused(400, "Unknown app", "No app is registered with this id.")
    if request.redirect_uri not in app.redirect_uris:
        raise ConnectRefused(
            400,
            "This sign-in link is not valid",
            f"{app.name} sent you to an address it hasn't registered with img.pro, so the "
            "sign-in stopped here to keep your account safe.",
            received_redirect_uri=request.redirect_uri,
            registered_redirect_uris=app.redirect_uris,
            owner_id=app.owner_id,
        )
    owner = await accounts.get_user(db, app.owner_id)
    if app.status != AppStatus.ACTIVE or owner is None or owner.status != UserStatus.ACTIVE:
        raise ConnectRefused(403, "This app is suspended", f"{app.name} cannot be used right now.")
    return app


# ---- the app's own storage and its API keys -------------------------------------------------


async def storage_workspace(db: AsyncSession, app: App) -> Workspace:
    """The app's own workspace ("App storage"), created on first use: on free, managed by the
    app's owner on the billing page. Concurrent first uses create one (a unique index). Runs in
    the caller's transaction: the caller commits."""
    query = select(Workspace).where(
        Workspace.app_id == app.id, Workspace.kind == WorkspaceKind.APP_STORAGE
    )
    workspace = (await db.execute(query)).scalar()
    if workspace is not None:
        return workspace
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(Workspace)
        .values(
            id=new_id(),
            shard=new_shard(),
            kind=WorkspaceKind.APP_STORAGE,
            app_id=app.id,
            plan=FREE,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["app_id"], index_where=Workspace.kind == WorkspaceKind.APP_STORAGE
        )
    )
    return (await db.execute(query)).scalar_one()


async def storage_workspaces_owned(db: AsyncSession, owner: User) -> list[Workspace]:
    """The own workspaces of the apps `owner` registered (those in use so far)."""
    rows = await db.execute(
        select(Workspace)
        .join(App, App.id == Workspace.app_id)
        .where(App.owner_id == owner.id, Workspace.kind == WorkspaceKind.APP_STORAGE)
        .order_by(Workspace.created_at)
    )
    return list(rows.scalars())


async def create_app_key(
    db: AsyncSession, app: App, abilities: frozenset[str], access: str, name: str = ""
) -> keys.IssuedKey:
    """A key of `app` (its owner's), acting on the app's own workspace; shown once."""
    owner = await accounts.get_user(db, app.owner_id)
    assert owner is not None  # an app is deleted with its owner
    workspace = await storage_workspace(db, app)
    issued = await keys.create_key(db, owner, workspace, abilities, name, access=access)
    await db.commit()
    return issued


async def app_key_reach(db: AsyncSession, key: ApiKey, user_header: str | None) -> AppKeyReach:
    """Resolve an app key's call. App storage only: the app's workspace, suspended or not.
    App-wide: 403 app_suspended while the app is suspended; with X-Img-User, the sandbox of
    the machine secret (403 user_forbidden for anyone not connected)."""
    app = await get_app(db, key.app_id or "")
    workspace = await accounts.get_workspace(db, key.workspace_id)
    if app is None or workspace is None:
        raise ApiError("unauthorized")
    if key.access == keys.APP_WIDE:
        if app.status != AppStatus.ACTIVE:
            raise ApiError("app_suspended")
        if user_header is not None:
            acting = await act_for(db, app, user_header)
            return AppKeyReach(app, acting.workspace, acting.user)
    elif user_header is not None:
        raise ApiError(
            "forbidden",
            "This key's data access is App storage only; acting for a user (X-Img-User) "
            "needs an App-wide key.",
        )
    return AppKeyReach(app, workspace, None)
