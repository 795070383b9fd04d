"""Browser security for the web surface: the session cookie, CSRF tokens on every form and
safe return addresses.

CSRF: each browser gets a random `imgpro_csrf` cookie (HttpOnly, SameSite=Lax); every form
carries HMAC(secret, cookie) in `csrf_token`, and every POST is refused unless the two match."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from imgpro import tokens
from imgpro.accounts import sessions
from imgpro.accounts.tables import User
from imgpro.deps import Db, Rt

SESSION_COOKIE = "imgpro_session"
CSRF_COOKIE = "imgpro_csrf"
CSRF_FIELD = "csrf_token"
DEFAULT_NEXT = "/dashboard"


class CsrfRefused(Exception):
    """A form post without a valid CSRF token: nothing is changed."""


class SignInRequired(Exception):
    """A dashboard page was opened without a session; go to sign-in and come back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _secure(request: Request) -> bool:
    return str(request.app.state.runtime.settings.web_url).startswith("https://")


def _csrf_nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = tokens.url_token(24)
    request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    key = request.app.state.runtime.settings.signing_key.encode()
    return tokens.keyed_digest(key, b"csrf:" + _csrf_nonce(request).encode())


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this page minted a new one."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and nonce != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=_secure(request), path="/"
        )


async def checked_form(request: Request) -> AsyncIterator[FormData]:
    """The posted form, once its CSRF token is verified; its spooled files are closed after."""
    form = await request.form(max_files=2, max_fields=50)
    try:
        sent = form.get(CSRF_FIELD)
        cookie = request.cookies.get(CSRF_COOKIE)
        if not isinstance(sent, str) or not cookie or len(cookie) > 64:
            raise CsrfRefused()
        if not tokens.same(sent, csrf_token(request)):
            raise CsrfRefused()
        yield form
    finally:
        await form.close()


CheckedForm = Annotated[FormData, Depends(checked_form)]


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


async def current_user(request: Request, db: Db, rt: Rt) -> User | None:
    return await sessions.resolve(db, request.cookies.get(SESSION_COOKIE))


async def signed_in_user(request: Request, db: Db, rt: Rt) -> User:
    user = await current_user(request, db, rt)
    if user is None:
        path = request.url.path
        raise SignInRequired(path if request.method == "GET" else DEFAULT_NEXT)
    return user


Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(signed_in_user)]


def safe_next(value: str | None) -> str:
    """A return address on this site only: a path, never another origin (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return DEFAULT_NEXT
    if "\\" in value or not value.isascii() or any(not c.isprintable() for c in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return value
