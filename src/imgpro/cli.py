"""The `imgpro` command: serve, migrate, settings, and the operator's `admin` commands.

Every command has --help; with --json an admin command prints exactly one JSON object."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import User, UserStatus
from imgpro.apps import service as apps
from imgpro.apps.tables import AppStatus
from imgpro.billing.plans import catalogue
from imgpro.db import migrate as migrations
from imgpro.errors import ApiError
from imgpro.images import service as images
from imgpro.keys import service as keys
from imgpro.ops import backup as backups
from imgpro.ops import gc as garbage
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from imgpro.webhooks import service as webhooks

app = typer.Typer(
    help="imgpro: identity, image storage, image CDN and billing.", no_args_is_help=True
)
admin = typer.Typer(help="Operator commands (users, keys, apps, gc, backup).", no_args_is_help=True)
users = typer.Typer(help="Create, change and delete users.", no_args_is_help=True)
key_commands = typer.Typer(help="Create API keys.", no_args_is_help=True)
app_commands = typer.Typer(
    help="Register apps and switch them (verify, suspend).", no_args_is_help=True
)
app.add_typer(admin, name="admin")
admin.add_typer(users, name="user")
admin.add_typer(key_commands, name="key")
admin.add_typer(app_commands, name="app")

console = Console()
T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]


class CommandFailed(Exception):
    """An operator mistake, explained with what to do next."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def run_with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = Runtime.build(Settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def emit(as_json: bool, result: dict[str, Any], human: str) -> None:
    if as_json:
        typer.echo(json.dumps(result))
    else:
        console.print(human)


def admin_command(
    as_json: bool, work: Callable[[Runtime], Awaitable[tuple[dict[str, Any], str]]]
) -> None:
    """Run an admin action; print its result, or its error and exit 1."""
    try:
        result, human = run_with_runtime(work)
    except (CommandFailed, ApiError) as exc:
        message = exc.message if isinstance(exc, CommandFailed) else _api_error_text(exc)
        code = exc.code
        if as_json:
            typer.echo(json.dumps({"error": {"code": code, "message": message}}))
        else:
            console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(1) from None
    emit(as_json, result, human)


def _api_error_text(exc: ApiError) -> str:
    if exc.details:
        return "; ".join(
            f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.details.items()
        )
    return exc.message


def _check_plan(settings: Settings, plan: str) -> str:
    ids = [known.id for known in catalogue(settings).plans]
    if plan not in ids:
        raise CommandFailed(
            "validation_error", f"Unknown plan {plan!r}; use one of {', '.join(ids)}."
        )
    return plan


async def _user(db: Any, email: str) -> User:
    user = await accounts.find_user_by_email(db, email)
    if user is None:
        raise CommandFailed(
            "not_found",
            f"No user with email {email}; create one with `imgpro admin user create {email}`.",
        )
    return user


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Start the web, api and cdn surfaces (applies migrations first)."""
    from imgpro import server

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _ = settings.signing_key  # generate the secret once, before workers race for it
    _migrate(settings)
    if workers > 1:  # metrics from every worker, whichever one a scrape reaches
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    console.print(
        f"imgpro on http://{host}:{port}  (web {settings.web_url}, api {settings.api_url}, "
        f"cdn {settings.cdn_url})"
    )
    server.serve(
        "imgpro.app:create_app",
        settings,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (SQLite or PostgreSQL)."""
    _migrate(Settings())
    console.print("schema is up to date")


def _migrate(settings: Settings) -> None:
    try:
        migrations.upgrade(settings.database_url)
    except migrations.MigrationFailed as failed:
        console.print(f"[red]{failed}[/red]: alembic's error is above")
        raise typer.Exit(1) from None


@app.command("settings")
def show_settings() -> None:
    """Print every setting with its current value and meaning."""
    settings = Settings()
    table = Table("variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if ("secret" in name or "token" in name) and value:
            value = "(set)"
        # plain text: descriptions such as "s3://BUCKET[/PREFIX]" are not rich markup
        table.add_row(
            Text(f"IMGPRO_{name.upper()}"), Text(str(value)), Text(field.description or "")
        )
    console.print(table)


@users.command("create")
def user_create(
    email: str,
    plan: Annotated[str, typer.Option(help="free, pro, scale or max.")] = "free",
    as_json: JsonFlag = False,
) -> None:
    """Create a user with a personal workspace."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        _check_plan(rt.settings, plan)
        async with rt.sessions() as db:
            user = await accounts.register_user(db, email, plan)
        return {
            "id": user.id,
            "email": user.email,
            "plan": plan,
        }, f"created user {user.email} ({user.id}) on {plan}"

    admin_command(as_json, work)


@users.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """List every user with the plan of their personal workspace and their status."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            found = await accounts.list_users(db)
        rows = [
            {
                "id": user.id,
                "email": user.email,
                "plan": plan,
                "status": user.status,
                "created_at": user.created_at.isoformat(),
            }
            for user, plan in found
        ]
        lines = [f"{r['id']}  {r['email']}  {r['plan']}  {r['status']}" for r in rows]
        return {"users": rows}, "\n".join(lines) or "no users"

    admin_command(as_json, work)


@users.command("set-plan")
def user_set_plan(email: str, plan: str, as_json: JsonFlag = False) -> None:
    """Put a user's personal workspace on PLAN."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        _check_plan(rt.settings, plan)
        async with rt.sessions() as db:
            user = await _user(db, email)
            await accounts.set_personal_plan(db, user, plan)
        return {"id": user.id, "email": user.email, "plan": plan}, f"{user.email} is now on {plan}"

    admin_command(as_json, work)


def _status_command(status: UserStatus, verb: str) -> Callable[..., None]:
    def command(email: str, as_json: JsonFlag = False) -> None:
        async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
            async with rt.sessions() as db:
                user = await _user(db, email)
                await accounts.set_status(db, user, status)
            return {"id": user.id, "email": user.email, "status": status}, f"{user.email} {verb}"

        admin_command(as_json, work)

    effect = (
        "their keys and apps stop working"
        if status == UserStatus.DISABLED
        else "they are active again"
    )
    command.__doc__ = f"{verb.capitalize()} a user: {effect}."
    return command


users.command("disable")(_status_command(UserStatus.DISABLED, "disabled"))
users.command("enable")(_status_command(UserStatus.ACTIVE, "enabled"))


@users.command("delete")
def user_delete(email: str, as_json: JsonFlag = False) -> None:
    """Delete a user with every workspace, image and blob. This cannot be undone."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            user = await _user(db, email)
            await apps.delete_account(db, rt.blobs, user)
        return {"id": user.id, "email": user.email, "deleted": True}, f"deleted {user.email}"

    admin_command(as_json, work)


@key_commands.command("create")
def key_create(
    user: Annotated[
        str | None, typer.Option("--user", help="Email of a personal key's owner.")
    ] = None,
    app_id: Annotated[
        str | None, typer.Option("--app", help="App id: a key of this app (its owner's).")
    ] = None,
    access: Annotated[
        str | None,
        typer.Option(
            help="With --app: app (App storage only) or app-wide (also X-Img-User for the "
            "app's connected users)."
        ),
    ] = None,
    abilities: Annotated[str, typer.Option(help="read, write or read,write.")] = "read,write",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key, shown once: on a user's personal workspace (--user), or a key of an
    app (--app, --access) acting on the app's own workspace."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        if (user is None) == (app_id is None):
            raise CommandFailed("validation_error", "Give either --user EMAIL or --app APP_ID.")
        if (access is None) != (app_id is None):
            raise CommandFailed("validation_error", "--access goes with --app (app or app-wide).")
        parsed = keys.parse_abilities(abilities)
        async with rt.sessions() as db:
            if app_id is not None and access is not None:
                found = await _app(db, app_id)
                issued = await apps.create_app_key(
                    db, found, parsed, keys.parse_access(access), name
                )
            else:
                owner = await _user(db, user or "")
                issued = await keys.create_personal_key(db, owner, parsed, name)
        result: dict[str, Any] = {
            "id": issued.record.id,
            "key": issued.key,
            "abilities": sorted(parsed),
        }
        if issued.record.app_id is not None:
            result |= {"app": issued.record.app_id, "access": issued.record.access}
        return (
            result,
            f"key {issued.record.id} ({','.join(sorted(parsed))}): {issued.key}\n"
            "shown once — store it now",
        )

    admin_command(as_json, work)


def _app_json(app: Any) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "redirect_uris": list(app.redirect_uris),
        "verified": app.verified,
        "status": app.status,
    }


@app_commands.command("create")
def app_create(
    owner: Annotated[str, typer.Option("--owner", help="Email of the app's owner.")],
    name: Annotated[str, typer.Option("--name", help="Shown to users on the sign-in page.")],
    redirect_uri: Annotated[
        list[str], typer.Option("--redirect-uri", help="An exact redirect URI (repeatable).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Register an app for OWNER (any plan); the machine secret is shown once."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            user = await _user(db, owner)
            issued = await apps.register(
                db, user, name, redirect_uri, plans=catalogue(rt.settings), require_paid=False
            )
        result = {
            "id": issued.app.id,
            "secret": issued.secret,
            "name": issued.app.name,
            "redirect_uris": list(issued.app.redirect_uris),
        }
        return (
            result,
            f"app {issued.app.id} ({issued.app.name}): {issued.secret}\nshown once — store it now",
        )

    admin_command(as_json, work)


@app_commands.command("list")
def app_list(as_json: JsonFlag = False) -> None:
    """List every app with its owner, status, badge and number of connected users."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            found = await apps.list_apps(db)
        rows = [
            _app_json(app) | {"owner": owner, "connected_users": users}
            for app, owner, users in found
        ]
        lines = [
            f"{r['id']}  {r['name']}  {r['status']}{'  verified' if r['verified'] else ''}  "
            f"owner {r['owner']}  {r['connected_users']} users"
            for r in rows
        ]
        return {"apps": rows}, "\n".join(lines) or "no apps"

    admin_command(as_json, work)


async def _app(db: Any, app_id: str) -> Any:
    found = await apps.get_app(db, app_id)
    if found is None:
        raise CommandFailed("not_found", f"No app with id {app_id}.")
    return found


def _app_switch(change: Callable[[Any, Any], Awaitable[Any]], done: str) -> Callable[..., None]:
    def command(app_id: str, as_json: JsonFlag = False) -> None:
        async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
            async with rt.sessions() as db:
                found = await _app(db, app_id)
                await change(db, found)
            return _app_json(found), f"app {found.id} ({found.name}) {done}"

        admin_command(as_json, work)

    return command


def _describe(command: Callable[..., None], doc: str) -> Callable[..., None]:
    command.__doc__ = doc
    return command


app_commands.command("verify")(
    _describe(
        _app_switch(lambda db, a: apps.set_verified(db, a, True), "is verified"),
        "Show the ✓ Verified badge on the app's sign-in page (after review).",
    )
)
app_commands.command("unverify")(
    _describe(
        _app_switch(lambda db, a: apps.set_verified(db, a, False), "is no longer verified"),
        "Remove the ✓ Verified badge.",
    )
)
app_commands.command("suspend")(
    _describe(
        _app_switch(lambda db, a: apps.set_status(db, a, AppStatus.SUSPENDED), "is suspended"),
        "Suspend an app: its calls get 403 app_suspended and its sign-in page refuses.",
    )
)
app_commands.command("unsuspend")(
    _describe(
        _app_switch(lambda db, a: apps.set_status(db, a, AppStatus.ACTIVE), "is active again"),
        "Lift a suspension.",
    )
)


@app_commands.command("rotate-secret")
def app_rotate_secret(app_id: str, as_json: JsonFlag = False) -> None:
    """Give the app a new machine secret (shown once); the old one stops working."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            issued = await apps.rotate_secret(db, await _app(db, app_id))
        return (
            {"id": issued.app.id, "secret": issued.secret},
            f"app {issued.app.id}: {issued.secret}\nshown once — store it now",
        )

    admin_command(as_json, work)


@app_commands.command("set-webhook")
def app_set_webhook(
    app_id: str,
    url: Annotated[str, typer.Option("--url", help='The endpoint; "" removes it.')],
    rotate_secret: Annotated[
        bool, typer.Option("--rotate-secret", help="Also issue a new signing secret.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send the app's events (decisions.md §7) to URL. A new endpoint gets a signing secret,
    shown once; changing the URL keeps it ("secret": null) unless --rotate-secret."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.sessions() as db:
            found = await _app(db, app_id)
            endpoint = await webhooks.set_endpoint(db, rt.settings, found.id, url)
            if endpoint.url and rotate_secret and endpoint.secret is None:
                endpoint = await webhooks.rotate_secret(db, found.id) or endpoint
        if not endpoint.url:
            return {"url": "", "secret": None}, f"app {found.id}: webhooks off"
        human = f"app {found.id}: events go to {endpoint.url}"
        if endpoint.secret:
            human += f"\nsigning secret {endpoint.secret}\nshown once — store it now"
        return {"url": endpoint.url, "secret": endpoint.secret}, human

    admin_command(as_json, work)


@admin.command("sweep")
def sweep(as_json: JsonFlag = False) -> None:
    """Delete expired images (anonymous uploads after 30 days) with their blobs, and webhook
    messages sent or failed over 30 days ago; run it daily."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        deleted = 0
        with Progress(transient=True, disable=as_json) as progress:
            task = progress.add_task("deleting expired images", total=None)
            while True:
                async with rt.sessions() as db:
                    count = await images.sweep_expired(db, rt.blobs)
                if not count:
                    break
                deleted += count
                progress.update(task, advance=count)
        async with rt.sessions() as db:
            pruned = await webhooks.prune(db)
        human = f"deleted {deleted} expired images; forgot {pruned} old webhook messages"
        return {"deleted": deleted, "webhook_messages": pruned}, human

    admin_command(as_json, work)


@admin.command("backfill")
def backfill(as_json: JsonFlag = False) -> None:
    """Give images stored before this version their placeholder and working copy; safe to
    stop and run again (it resumes where it stopped)."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        visited = failed = 0
        after = ""
        async with rt.sessions() as db:
            total = await images.backfill_count(db)
        with Progress(disable=as_json) as progress:
            task = progress.add_task("backfilling images", total=total)
            while True:
                async with rt.sessions() as db:
                    ids, failures = await images.backfill_batch(db, rt, after)
                if not ids:
                    break
                after, visited, failed = ids[-1], visited + len(ids), failed + failures
                progress.update(task, advance=len(ids))
        human = f"backfilled {visited - failed} images"
        return {"images": visited - failed, "failed": failed}, human + (
            f"; {failed} failed (see the log)" if failed else ""
        )

    admin_command(as_json, work)


@app.command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check every configured backend (database, blob store, Redis, mail, billing, production
    settings); exit 1 naming each problem and its fix."""
    # here, as `server` in serve: its clients (SMTP, alembic, Redis) are no server's to load
    from imgpro.ops.doctor import Check, diagnose

    async def work(rt: Runtime) -> list[Check]:
        return await diagnose(rt)

    checks = run_with_runtime(work)
    healthy = all(check.ok for check in checks)
    if as_json:
        typer.echo(json.dumps({"ok": healthy, "checks": [check.as_json() for check in checks]}))
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {check.name}: {check.detail}")
    if not healthy:
        raise typer.Exit(1)


@admin.command("gc")
def gc(
    min_age: Annotated[
        int, typer.Option("--min-age", help="Leave blobs younger than this (seconds).", min=0)
    ] = 3600,
    as_json: JsonFlag = False,
) -> None:
    """Remove blobs that no image owns (left by a node that died mid-upload)."""

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        removed, freed = await garbage.collect(rt, min_age)
        return {"removed": removed, "bytes": freed}, f"removed {removed} blobs ({freed} bytes)"

    admin_command(as_json, work)


@admin.command("backup")
def backup(
    directory: Annotated[Path, typer.Argument(help="A new, empty directory.")],
    as_json: JsonFlag = False,
) -> None:
    """Copy the embedded default (SQLite online backup, then the blobs) while it runs."""
    _copy_command(lambda: backups.backup(Settings(), directory), "backed up", as_json)


@admin.command("restore")
def restore(
    directory: Annotated[Path, typer.Argument(help="A directory made by `imgpro admin backup`.")],
    as_json: JsonFlag = False,
) -> None:
    """Put a backup back into the data dir (stop imgpro first)."""
    _copy_command(lambda: backups.restore(Settings(), directory), "restored", as_json)


def _copy_command(action: Callable[[], dict[str, Any]], verb: str, as_json: bool) -> None:
    try:
        result = action()
    except backups.BackupRefused as refused:
        if as_json:
            typer.echo(json.dumps({"error": {"code": "refused", "message": str(refused)}}))
        else:
            console.print(f"[red]error:[/red] {refused}")
        raise typer.Exit(1) from None
    human = f"{verb} {result['blobs']} blobs ({result['bytes']} bytes) with {result['directory']}"
    emit(as_json, result, human)


def main() -> None:
    app()
