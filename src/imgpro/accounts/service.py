"""Users and workspaces: create, find, disable, delete (with every image and blob).

Who commits: the use cases (register_user, set_status, set_personal_plan) commit; create_user
and delete_user are steps of larger use cases (sign-in, account deletion) and run in the
caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts.tables import User, UserStatus, Workspace, WorkspaceKind
from imgpro.errors import invalid
from imgpro.ids import new_id, new_shard
from imgpro.mail.address import parse_mailbox
from imgpro.webhooks import service as webhooks

ANONYMOUS_WORKSPACE_ID = "anonpool"
DOCS_WORKSPACE_ID = "docspool"


def normalise_email(email: str) -> str:
    """The stored form of one plain mailbox (validation_error for anything else)."""
    return parse_mailbox(email).address


async def create_user(db: AsyncSession, email: str, plan: str = "free") -> User:
    """A new user with a personal workspace on `plan`. Runs in the caller's transaction: the
    caller commits."""
    email = normalise_email(email)
    if await find_user_by_email(db, email) is not None:
        raise invalid("email", f"A user with the email {email} already exists.")
    user = User(id=new_id(), email=email)
    db.add(user)
    await db.flush()
    db.add(
        Workspace(
            id=new_id(), shard=new_shard(), kind=WorkspaceKind.PERSONAL, user_id=user.id, plan=plan
        )
    )
    await db.flush()
    return user


async def register_user(db: AsyncSession, email: str, plan: str = "free") -> User:
    """An operator's new user (`imgpro admin user create`): create_user, committed."""
    user = await create_user(db, email, plan)
    await db.commit()
    return user


async def find_user_by_email(db: AsyncSession, email: str) -> User | None:
    """The user with this address, however it is written (validation_error if it is not one
    plain mailbox)."""
    email = normalise_email(email)
    return (await db.execute(select(User).where(User.email == email))).scalar()


async def get_user(db: AsyncSession, user_id: str) -> User | None:
    return await db.get(User, user_id)


async def list_users(db: AsyncSession) -> list[tuple[User, str]]:
    """Every user, oldest first, with the plan of their personal workspace (for operators)."""
    rows = await db.execute(
        select(User, Workspace.plan)
        .join(
            Workspace, (Workspace.user_id == User.id) & (Workspace.kind == WorkspaceKind.PERSONAL)
        )
        .order_by(User.created_at, User.id)
    )
    return [(user, plan) for user, plan in rows.all()]


async def personal_workspace(db: AsyncSession, user_id: str) -> Workspace:
    return (
        await db.execute(
            select(Workspace).where(
                Workspace.user_id == user_id, Workspace.kind == WorkspaceKind.PERSONAL
            )
        )
    ).scalar_one()


async def get_workspace(db: AsyncSession, workspace_id: str) -> Workspace | None:
    return await db.get(Workspace, workspace_id)


async def workspaces_of(db: AsyncSession, user_id: str) -> list[Workspace]:
    """The user's personal workspace and one per app they connected (revoked ones too)."""
    rows = await db.execute(
        select(Workspace).where(Workspace.user_id == user_id).order_by(Workspace.created_at)
    )
    return list(rows.scalars())


async def anonymous_workspace(db: AsyncSession) -> Workspace:
    """The shared pool anonymous uploads live in; created on first use."""
    return await _fixed_workspace(db, ANONYMOUS_WORKSPACE_ID, "pub", WorkspaceKind.ANONYMOUS)


async def docs_workspace(db: AsyncSession) -> Workspace:
    """Where the docs keep the sample image their live examples render; created on first use."""
    return await _fixed_workspace(db, DOCS_WORKSPACE_ID, "doc", WorkspaceKind.DOCS)


async def _fixed_workspace(
    db: AsyncSession, workspace_id: str, shard: str, kind: WorkspaceKind
) -> Workspace:
    workspace = await db.get(Workspace, workspace_id)
    if workspace is not None:
        return workspace
    try:
        async with db.begin_nested():
            db.add(Workspace(id=workspace_id, shard=shard, kind=kind))
    except IntegrityError:
        pass  # another request created it first
    return (await db.get(Workspace, workspace_id)) or await _fixed_workspace(
        db, workspace_id, shard, kind
    )


async def set_status(db: AsyncSession, user: User, status: UserStatus) -> User:
    """Disable or enable `user` (apps hear of a disabled one as gone); commits."""
    if (
        status == UserStatus.DISABLED and user.status != UserStatus.DISABLED
    ):  # to the apps, as good as deleted
        await webhooks.emit_user_gone(db, user.id, await workspaces_of(db, user.id))
    user.status = status
    await db.commit()
    return user


async def set_personal_plan(db: AsyncSession, user: User, plan: str) -> Workspace:
    """Put the user's personal workspace on `plan`; commits."""
    workspace = await personal_workspace(db, user.id)
    workspace.plan = plan
    await db.commit()
    return workspace


async def delete_user(db: AsyncSession, user: User) -> None:
    """Delete the user with every workspace and image row (they cascade); the caller removes
    the blobs (images.service.stored_in / unpublish_all). Runs in the caller's transaction: the
    caller commits."""
    await db.delete(user)
    await db.flush()


async def workspace_ids_of(db: AsyncSession, user_id: str) -> list[str]:
    rows = await db.execute(select(Workspace.id).where(Workspace.user_id == user_id))
    return list(rows.scalars())
