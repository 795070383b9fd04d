"""The signed-in dashboard: my images, API keys, Apps (registry), connected apps, account.
Every change is a CSRF-checked form post; secrets are shown once, on the page that made them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import User
from imgpro.apps import service as apps
from imgpro.apps.tables import App
from imgpro.billing import meter
from imgpro.billing.plans import catalogue
from imgpro.deps import Db, Rt
from imgpro.errors import ApiError
from imgpro.http import client_ip, parse_as
from imgpro.ids import new_id
from imgpro.images import fields as parse
from imgpro.images import service as images
from imgpro.images.schemas import ImageFields, image_object
from imgpro.keys import service as keys
from imgpro.principal import Principal
from imgpro.web.pages import form_text, redirect, render
from imgpro.web.security import CheckedForm, SignedIn, clear_session_cookie
from imgpro.web.signin import explain
from imgpro.webhooks import service as webhooks

router = APIRouter(prefix="/dashboard")

# fixed notices for ?done=…: the page never echoes text from the address bar
NOTICES = {
    "uploaded": "Image uploaded.",
    "deleted": "Image deleted.",
    "revoked": "API key revoked.",
    "disconnected": "App disconnected. It can no longer act for you until you connect again.",
    "saved": "App saved.",
    "app_deleted": "App deleted.",
    "webhook_saved": "Webhook endpoint saved.",
    "webhook_removed": "Webhook endpoint removed: no more events are sent.",
    "webhook_test": "Test event queued: it appears in the deliveries below.",
}


def _page(
    request: Request, template: str, user: User, section: str, status: int = 200, **context: Any
) -> Response:
    done = request.query_params.get("done")
    response = render(
        request,
        f"dashboard/{template}",
        {"user": user, "section": section, "notice": NOTICES.get(done or ""), **context},
        status,
    )
    # private pages, some showing a secret once: no browser or proxy may keep a copy
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found(request: Request, user: User, section: str, thing: str, back: str) -> Response:
    """An action on an id that is not the user's (or no longer exists): nothing was done."""
    return _page(request, "missing.html", user, section, 404, thing=thing, back=back)


# ---- images ---------------------------------------------------------------------------------


async def _images_page(
    request: Request, db: Db, rt: Rt, user: User, status: int = 200, **context: Any
) -> Response:
    workspace = await accounts.personal_workspace(db, user.id)
    cursor = request.query_params.get("cursor") or None
    try:
        page = await images.list_images(db, workspace, limit=48, cursor=cursor, labels={}, ids=None)
    except ApiError:
        page = await images.list_images(db, workspace, limit=48, cursor=None, labels={}, ids=None)
    return _page(
        request,
        "images.html",
        user,
        "images",
        status,
        images=[image_object(rt.settings, image) for image in page.images],
        next_cursor=page.next_cursor,
        cursor=cursor,
        plan=catalogue(rt.settings).get(workspace.plan),
        **context,
    )


@router.get("")
async def images_page(request: Request, user: SignedIn, db: Db, rt: Rt) -> Response:
    return await _images_page(request, db, rt, user)


@router.post("/images")
async def upload_image(
    request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _images_page(request, db, rt, user, 422, error="Choose an image to upload.")
    workspace = await accounts.personal_workspace(db, user.id)
    caller = Principal.web_user(
        user.id, workspace, client_ip(request.scope, rt.settings.trusted_proxies)
    )
    path = rt.workdir / f"web-upload-{new_id()}"
    try:
        with open(path, "wb") as out:
            while chunk := await upload.read(1024 * 1024):
                out.write(chunk)
        fields = parse_as(
            ImageFields,
            {
                "caption": form_text(form, "caption", 4000) or None,
                "public": form_text(form, "visibility") != "private",
            },
        )
        await images.create_from_upload(
            db, rt, caller, images.UploadedFile(path, parse.parse_filename(upload.filename)), fields
        )
    except ApiError as exc:
        return await _images_page(request, db, rt, user, 422, error=explain(exc))
    finally:
        path.unlink(missing_ok=True)
    return redirect("/dashboard?done=uploaded")


@router.post("/images/{image_id}/delete")
async def delete_image(
    image_id: str, request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    workspace = await accounts.personal_workspace(db, user.id)
    try:
        await images.remove(db, rt, workspace, image_id)
    except ApiError as exc:
        if exc.code != "not_found":
            raise
        return _not_found(request, user, "images", "image", "/dashboard")
    return redirect("/dashboard?done=deleted")


# ---- API keys -------------------------------------------------------------------------------


async def _keys_page(
    request: Request, db: Db, user: User, status: int = 200, **context: Any
) -> Response:
    return _page(
        request,
        "keys.html",
        user,
        "keys",
        status,
        keys=await keys.list_keys(db, user.id),
        **context,
    )


@router.get("/keys")
async def keys_page(request: Request, user: SignedIn, db: Db) -> Response:
    return await _keys_page(request, db, user)


@router.post("/keys")
async def create_key(request: Request, user: SignedIn, form: CheckedForm, db: Db) -> Response:
    chosen = ",".join(a for a in ("read", "write") if form_text(form, a) == "on")
    try:
        abilities = keys.parse_abilities(chosen)
    except ApiError:
        return await _keys_page(request, db, user, 422, error="Pick read, write or both.")
    issued = await keys.create_personal_key(db, user, abilities, form_text(form, "name", 64))
    return await _keys_page(request, db, user, issued=issued)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    key_id: str, request: Request, user: SignedIn, form: CheckedForm, db: Db
) -> Response:
    if not await keys.revoke_key(db, user.id, key_id):
        return _not_found(request, user, "keys", "API key", "/dashboard/keys")
    return redirect("/dashboard/keys?done=revoked")


# ---- Apps (the registry) --------------------------------------------------------------------


def _uris(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def _apps_page(
    request: Request, db: Db, rt: Rt, user: User, status: int = 200, **context: Any
) -> Response:
    plans = catalogue(rt.settings)
    return _page(
        request,
        "apps.html",
        user,
        "apps",
        status,
        apps=await apps.owned_apps(db, user),
        may_register=await apps.may_register_apps(db, user, plans),
        paid_plans=plans.paid,
        **context,
    )


@router.get("/apps")
async def apps_page(request: Request, user: SignedIn, db: Db, rt: Rt) -> Response:
    return await _apps_page(request, db, rt, user)


@router.post("/apps")
async def register_app(
    request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    name = form_text(form, "name", 200)
    uris_text = form_text(form, "redirect_uris", 25_000)
    try:
        issued = await apps.register(db, user, name, _uris(uris_text), plans=catalogue(rt.settings))
    except ApiError as exc:
        form_values = {"name": name, "redirect_uris": uris_text}
        return await _apps_page(request, db, rt, user, 422, error=explain(exc), form=form_values)
    return _page(request, "app_secret.html", user, "apps", app=issued.app, secret=issued.secret)


def _no_such_app(request: Request, user: User) -> Response:
    return _not_found(request, user, "apps", "app", "/dashboard/apps")


class NoSuchApp(Exception):
    """The app in the address is not the signed-in user's (or no longer exists)."""

    def __init__(self, user: User) -> None:
        super().__init__("no such app")
        self.user = user


async def no_such_app_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NoSuchApp)
    return _no_such_app(request, exc.user)


async def owned_app(app_id: str, user: SignedIn, db: Db) -> App:
    """The signed-in user's app named in the path; anything else is the 404 page, with
    nothing done."""
    app = await apps.owned_app(db, user, app_id)
    if app is None:
        raise NoSuchApp(user)
    return app


# after SignedIn and CheckedForm in a route's parameters: those are checked first
OwnedApp = Annotated[App, Depends(owned_app)]


async def _app_page(
    request: Request, db: Db, rt: Rt, user: User, app: App, status: int = 200, **context: Any
) -> Response:
    """The app's settings, its own storage (plan and usage) and its API keys."""
    storage = next(
        (ws for ws in await apps.storage_workspaces_owned(db, user) if ws.app_id == app.id), None
    )
    return _page(
        request,
        "app.html",
        user,
        "apps",
        status,
        app=app,
        webhook=await webhooks.endpoint_of(db, app.id),
        deliveries=await webhooks.recent(db, app.id),
        app_keys=await keys.list_keys(db, user.id, app.id),
        storage=storage,
        storage_usage=await meter.read_usage(db, rt.settings, storage) if storage else None,
        **context,
    )


@router.get("/apps/{app_id}")
async def app_page(request: Request, user: SignedIn, app: OwnedApp, db: Db, rt: Rt) -> Response:
    return await _app_page(request, db, rt, user, app)


@router.post("/apps/{app_id}/keys")
async def create_app_key(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db, rt: Rt
) -> Response:
    chosen = ",".join(a for a in ("read", "write") if form_text(form, a) == "on")
    try:
        abilities = keys.parse_abilities(chosen)
        access = keys.parse_access(form_text(form, "access", 16))
    except ApiError:
        return await _app_page(
            request,
            db,
            rt,
            user,
            app,
            422,
            key_error="Pick Read, Write or both, and a data access.",
        )
    issued = await apps.create_app_key(db, app, abilities, access, form_text(form, "name", 64))
    return await _app_page(request, db, rt, user, app, issued=issued)


@router.post("/apps/{app_id}/keys/{key_id}/revoke")
async def revoke_app_key(
    key_id: str, request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db
) -> Response:
    await keys.revoke_key(db, user.id, key_id, app.id)
    return redirect(f"/dashboard/apps/{app.id}?done=revoked")


@router.post("/apps/{app_id}")
async def edit_app(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db, rt: Rt
) -> Response:
    name = form_text(form, "name", 200)
    uris_text = form_text(form, "redirect_uris", 25_000)
    try:
        await apps.edit(db, app, name, _uris(uris_text))
    except ApiError as exc:  # checked before any change: nothing to undo
        form_values = {"name": name, "redirect_uris": uris_text}
        return await _app_page(
            request, db, rt, user, app, 422, error=explain(exc), form=form_values
        )
    return redirect(f"/dashboard/apps/{app.id}?done=saved")


@router.post("/apps/{app_id}/rotate")
async def rotate_app_secret(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db
) -> Response:
    issued = await apps.rotate_secret(db, app)
    return _page(
        request, "app_secret.html", user, "apps", app=issued.app, secret=issued.secret, rotated=True
    )


@router.post("/apps/{app_id}/webhook")
async def set_webhook(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db, rt: Rt
) -> Response:
    url = form_text(form, "url", 2048)
    try:
        endpoint = await webhooks.set_endpoint(db, rt.settings, app.id, url)
    except ApiError as exc:  # checked before any change: nothing to undo
        return await _app_page(request, db, rt, user, app, 422, webhook_error=explain(exc))
    if endpoint.secret is not None:
        return _page(request, "webhook_secret.html", user, "apps", app=app, endpoint=endpoint)
    done = "webhook_saved" if endpoint.url else "webhook_removed"
    return redirect(f"/dashboard/apps/{app.id}?done={done}#webhooks")


@router.post("/apps/{app_id}/webhook/rotate")
async def rotate_webhook_secret(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db
) -> Response:
    endpoint = await webhooks.rotate_secret(db, app.id)
    if endpoint is None:
        return _no_such_app(request, user)
    return _page(
        request, "webhook_secret.html", user, "apps", app=app, endpoint=endpoint, rotated=True
    )


@router.post("/apps/{app_id}/webhook/test")
async def send_test_event(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db
) -> Response:
    if await webhooks.send_test(db, app.id) is None:
        return _no_such_app(request, user)
    return redirect(f"/dashboard/apps/{app.id}?done=webhook_test#webhooks")


@router.post("/apps/{app_id}/delete")
async def delete_app(
    request: Request, user: SignedIn, form: CheckedForm, app: OwnedApp, db: Db, rt: Rt
) -> Response:
    if form_text(form, "confirm_name").strip() != app.name:
        return await _app_page(
            request,
            db,
            rt,
            user,
            app,
            422,
            delete_error="Type the app's name exactly to confirm deleting it.",
        )
    await apps.delete_app(db, rt.blobs, app)
    return redirect("/dashboard/apps?done=app_deleted")


# ---- connected apps -------------------------------------------------------------------------


@router.get("/connections")
async def connections_page(request: Request, user: SignedIn, db: Db, rt: Rt) -> Response:
    plans = catalogue(rt.settings)
    return _page(
        request,
        "connections.html",
        user,
        "connections",
        connections=await apps.connections(db, user),
        plan_name=lambda plan_id: plans.get(plan_id).name,
    )


@router.post("/connections/{app_id}/revoke")
async def revoke_connection(
    app_id: str, request: Request, user: SignedIn, form: CheckedForm, db: Db
) -> Response:
    if not await apps.revoke(db, user, app_id):
        return _not_found(request, user, "connections", "connected app", "/dashboard/connections")
    return redirect("/dashboard/connections?done=disconnected")


# ---- account --------------------------------------------------------------------------------


@router.get("/account")
async def account_page(request: Request, user: SignedIn) -> Response:
    return _page(request, "account.html", user, "account")


@router.post("/account/delete")
async def delete_account(
    request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    if form_text(form, "confirm_email").strip().lower() != user.email:
        return _page(
            request,
            "account.html",
            user,
            "account",
            422,
            error="Type your email address exactly to confirm deleting your account.",
        )
    await apps.delete_account(db, rt.blobs, user)
    response = redirect("/?deleted=1")
    clear_session_cookie(response)
    return response
