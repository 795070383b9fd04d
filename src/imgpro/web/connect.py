"""The hosted login `/connect`: email → code → consent → back to the app's registered
redirect URI with a one-time `code` (or `error=access_denied` / `interaction_required`).
Every step re-checks the request; a bad one gets an error page, never a redirect."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import Response

from imgpro.accounts import sessions, signin
from imgpro.accounts.tables import User
from imgpro.apps import service as apps
from imgpro.apps.rules import ConnectRefused, ConnectRequest, parse_connect, with_params
from imgpro.apps.tables import App
from imgpro.deps import Db, Rt
from imgpro.errors import ApiError
from imgpro.http import client_ip
from imgpro.web.pages import error_page, form_text, redirect, render
from imgpro.web.security import (
    SESSION_COOKIE,
    CheckedForm,
    Viewer,
    clear_session_cookie,
    set_session_cookie,
)
from imgpro.web.signin import explain, status_of, step_after

router = APIRouter()

_PARAM_NAMES = {"app", "redirect_uri", "state", "prompt", "code_challenge", "code_challenge_method"}


def _connect_url(request: ConnectRequest) -> str:
    return "/connect?" + urlencode(request.as_params())


async def _resolve(
    db: AsyncSession, items: Sequence[tuple[str, str]]
) -> tuple[ConnectRequest, App]:
    connect = parse_connect(items)
    return connect, await apps.resolve_connect(db, connect)


def _form_items(form: FormData) -> list[tuple[str, str]]:
    return [(k, v) for k, v in form.multi_items() if k in _PARAM_NAMES and isinstance(v, str)]


async def connect_refused_page(request: Request, exc: Exception) -> Response:
    """The web surface's handler for ConnectRefused: a bad sign-in link is an error page, never
    a redirect (the redirect URI is not trusted yet). The app's owner, signed in, also sees the
    registered redirect URIs (a visitor must not learn them)."""
    assert isinstance(exc, ConnectRefused)
    viewer = None
    if exc.owner_id is not None:
        async with request.app.state.runtime.sessions() as db:
            viewer = await sessions.resolve(db, request.cookies.get(SESSION_COOKIE))
    is_owner = viewer is not None and exc.owner_id == viewer.id
    return error_page(
        request,
        exc.status,
        exc.heading,
        exc.message,
        "Go back to the app and start the sign-in again; if this keeps happening, tell the "
        "app's developer.",
        developer={
            "received": exc.received_redirect_uri,
            "registered": exc.registered_redirect_uris if is_owner else (),
            "is_owner": is_owner,
        },
    )


def _page(
    request: Request,
    step: str,
    connect: ConnectRequest,
    app: App,
    status: int = 200,
    **extra: object,
) -> Response:
    context = {"step": step, "app": app, "connect": connect, "params": connect.as_params(), **extra}
    return render(request, "connect.html", context, status)


async def _finish(db: AsyncSession, connect: ConnectRequest, app: App, user: User) -> Response:
    code = await apps.issue_connect_code(
        db, app, user, connect.redirect_uri, connect.code_challenge
    )
    return redirect(with_params(connect.redirect_uri, {"code": code, "state": connect.state}))


def _back_with_error(connect: ConnectRequest, error: str) -> Response:
    return redirect(with_params(connect.redirect_uri, {"error": error, "state": connect.state}))


@router.get("/connect")
async def connect_page(request: Request, db: Db, viewer: Viewer) -> Response:
    connect, app = await _resolve(db, request.query_params.multi_items())
    if connect.prompt == "none":
        if viewer is not None and await apps.connection_of(db, app.id, viewer.id):
            return await _finish(db, connect, app, viewer)
        return _back_with_error(connect, "interaction_required")
    if viewer is not None:
        return _page(request, "consent", connect, app, user=viewer)
    return _page(request, "email", connect, app)


@router.post("/connect/email")
async def connect_send_code(request: Request, form: CheckedForm, db: Db, rt: Rt) -> Response:
    connect, app = await _resolve(db, _form_items(form))
    email = form_text(form, "email", 320)
    try:
        email = await signin.send_code(
            db, rt, email, client_ip(request.scope, rt.settings.trusted_proxies)
        )
    except ApiError as exc:
        return _page(
            request, "email", connect, app, status_of(exc), email=email, error=explain(exc)
        )
    return _page(request, "code", connect, app, email=email)


@router.post("/connect/code")
async def connect_check_code(request: Request, form: CheckedForm, db: Db, rt: Rt) -> Response:
    connect, app = await _resolve(db, _form_items(form))
    email = form_text(form, "email", 320)
    ip = client_ip(request.scope, rt.settings.trusted_proxies)
    try:
        user = await signin.verify_code(db, rt, email, form_text(form, "code", 32), ip)
    except signin.SignInRefused as exc:
        step = "email" if exc.new_code_needed else "code"
        return _page(request, step, connect, app, 422, email=email, error=exc.message)
    except ApiError as exc:
        return _page(
            request, step_after(exc), connect, app, status_of(exc), email=email, error=explain(exc)
        )
    response = redirect(_connect_url(connect))
    set_session_cookie(request, response, await sessions.start(db, user))
    return response


@router.post("/connect/consent")
async def connect_consent(request: Request, form: CheckedForm, db: Db, viewer: Viewer) -> Response:
    connect, app = await _resolve(db, _form_items(form))
    decision = form_text(form, "decision")
    if decision == "deny":
        return _back_with_error(connect, "access_denied")
    if viewer is None or decision != "allow" or form_text(form, "account") != viewer.id:
        # the session ended or changed since the page was shown: ask again
        return redirect(_connect_url(connect))
    await apps.connect(db, app, viewer)
    return await _finish(db, connect, app, viewer)


@router.post("/connect/cancel")
async def connect_cancel(request: Request, form: CheckedForm, db: Db) -> Response:
    connect, _app = await _resolve(db, _form_items(form))
    return _back_with_error(connect, "access_denied")


@router.post("/connect/switch")
async def connect_switch_account(request: Request, form: CheckedForm, db: Db) -> Response:
    connect, _app = await _resolve(db, _form_items(form))
    await sessions.end(db, request.cookies.get(SESSION_COOKIE))
    response = redirect(_connect_url(connect))
    clear_session_cookie(response)
    return response
