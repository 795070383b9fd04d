"""Web sign-in with an emailed one-time code, sign out, and the development outbox."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from imgpro.accounts import sessions, signin
from imgpro.deps import Db, Rt
from imgpro.errors import ApiError
from imgpro.http import client_ip
from imgpro.mail.service import outbox_enabled, read_outbox
from imgpro.web.pages import form_text, not_found_page, redirect, render
from imgpro.web.security import (
    SESSION_COOKIE,
    CheckedForm,
    Viewer,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)

router = APIRouter()


def explain(error: ApiError) -> str:
    """One sentence for a page: the field message, or the message with when to retry."""
    if error.details:
        return " ".join(str(m) for msgs in error.details.values() for m in msgs)
    if error.action and "retry_after" in error.action:
        minutes = max(1, round(error.action["retry_after"] / 60))
        return f"{error.message} Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    return error.message


def status_of(error: ApiError) -> int:
    return 429 if error.code == "rate_limited" else 503 if error.status >= 500 else 422


def step_after(error: ApiError) -> str:
    """Where a refused code check leaves the page: a wait keeps the code step, else the email."""
    return "code" if error.code == "rate_limited" else "email"


@router.get("/signin")
async def signin_page(request: Request, viewer: Viewer, next: str | None = None) -> Response:
    if viewer is not None:
        return redirect(safe_next(next))
    return render(request, "signin.html", {"step": "email", "next": safe_next(next)})


@router.post("/signin")
async def signin_send_code(request: Request, form: CheckedForm, db: Db, rt: Rt) -> Response:
    next_path = safe_next(form_text(form, "next"))
    email = form_text(form, "email", 320)
    try:
        email = await signin.send_code(
            db, rt, email, client_ip(request.scope, rt.settings.trusted_proxies)
        )
    except ApiError as exc:
        context = {"step": "email", "next": next_path, "email": email, "error": explain(exc)}
        return render(request, "signin.html", context, status_of(exc))
    return render(request, "signin.html", {"step": "code", "next": next_path, "email": email})


@router.post("/signin/code")
async def signin_check_code(request: Request, form: CheckedForm, db: Db, rt: Rt) -> Response:
    next_path = safe_next(form_text(form, "next"))
    email = form_text(form, "email", 320)
    ip = client_ip(request.scope, rt.settings.trusted_proxies)
    try:
        user = await signin.verify_code(db, rt, email, form_text(form, "code", 32), ip)
    except signin.SignInRefused as exc:
        step = "email" if exc.new_code_needed else "code"
        context = {"step": step, "next": next_path, "email": email, "error": exc.message}
        return render(request, "signin.html", context, 422)
    except ApiError as exc:
        context = {
            "step": step_after(exc),
            "next": next_path,
            "email": email,
            "error": explain(exc),
        }
        return render(request, "signin.html", context, status_of(exc))
    response = redirect(next_path)
    set_session_cookie(request, response, await sessions.start(db, user))
    return response


@router.post("/signout")
async def signout(request: Request, form: CheckedForm, db: Db) -> Response:
    await sessions.end(db, request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    clear_session_cookie(response)
    return response


@router.get("/dev/outbox")
async def outbox(request: Request, rt: Rt) -> Response:
    if not outbox_enabled(rt.settings):
        return not_found_page(request)
    return render(request, "outbox.html", {"mails": read_outbox(rt.settings)})
