"""Photo App: a small third-party web app built only on imgpro_sdk.

Its users sign in with img.pro (the official button; state and PKCE kept in this app's own
session), their photos live in img.pro, and they upgrade through img.pro's checkout. A returning
browser is signed in silently with prompt=none. The app stores nothing but the img.pro user id
in a signed cookie.

    IMGPRO_SECRET=img_sk_live_... IMGPRO_APP_ID=... IMGPRO_API_URL=http://127.0.0.1:8000 \\
    PHOTO_APP_URL=http://localhost:3000 uvicorn examples.photo_app.app:app --port 3000
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from imgpro_sdk import AsyncImgPro, button, errors

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
RETURNING = "photo_app_returning"  # "this browser signed in before": try prompt=none first
PAID_PLANS = ("pro", "scale", "max")


@dataclass(frozen=True)
class Config:
    url: str  # this app's public base, e.g. http://localhost:3000
    session_secret: str

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            url=os.environ.get("PHOTO_APP_URL", "http://localhost:3000").rstrip("/"),
            session_secret=os.environ.get("PHOTO_APP_SESSION_SECRET") or secrets.token_hex(32),
        )

    @property
    def callback(self) -> str:
        return self.url + "/callback"


def page(request: Request, template: str, code: int = 200, **context: Any) -> Response:
    session = request.session
    session.setdefault("csrf", secrets.token_urlsafe(24))
    context.update(csrf=session["csrf"], email=session.get("email"))
    return TEMPLATES.TemplateResponse(request, template, context, status_code=code)


def go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def create_app(config: Config | None = None, imgpro: AsyncImgPro | None = None) -> Starlette:
    config = config or Config.from_env()
    client = imgpro or AsyncImgPro()  # IMGPRO_SECRET, IMGPRO_APP_ID, IMGPRO_API_URL, ...

    def start_login(request: Request, prompt: str | None = None) -> str:
        login = client.login_url(redirect_uri=config.callback, prompt=prompt)
        request.session["state"], request.session["verifier"] = login.state, login.code_verifier
        return login.url

    def sign_out(request: Request) -> None:
        for key in ("user_id", "email"):
            request.session.pop(key, None)

    async def checked_form(request: Request) -> Any:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), request.session.get("csrf", "")):
            await form.close()
            raise PermissionError("stale form")
        return form

    async def home(request: Request) -> Response:
        if request.session.get("user_id"):
            return go("/gallery")
        returning = request.cookies.get(RETURNING) == "1"
        if returning and not request.session.get("tried_silent"):
            request.session["tried_silent"] = True
            return go(start_login(request, prompt="none"))
        notice = request.session.pop("notice", None)
        return page(request, "home.html", notice=notice, button=button(start_login(request)))

    async def callback(request: Request) -> Response:
        state = request.session.pop("state", None)
        verifier = request.session.pop("verifier", None)
        try:
            ctx = await client.finish_login(
                str(request.url), expected_state=state, code_verifier=verifier
            )
        except errors.InteractionRequired:
            return go("/")  # the silent try failed: show the button
        except errors.LoginCanceled:
            request.session["notice"] = "Sign-in cancelled. Try again whenever you like."
            return go("/")
        except (errors.LoginError, errors.InvalidCode):
            request.session["notice"] = "That sign-in link expired. Please try again."
            return go("/")
        request.session.update(user_id=ctx.user.id, email=ctx.user.email, tried_silent=False)
        response = go("/gallery")
        response.set_cookie(RETURNING, "1", max_age=90 * 86400, httponly=True, samesite="lax")
        return response

    def disconnected(request: Request) -> Response:
        sign_out(request)
        request.session["notice"] = "You were disconnected from img.pro. Sign in again."
        request.session["tried_silent"] = True  # no silent retry: the user must choose again
        return go("/")

    async def gallery(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if not user_id:
            return go("/")
        user = client.for_user(user_id)
        try:
            images = await user.images.list(limit=48)
            status = await user.billing.status()
        except errors.UserForbidden:
            return disconnected(request)
        notice = request.session.pop("notice", None)
        plans = [plan for plan in status.available_plans if plan.id in PAID_PLANS]
        return page(
            request,
            "gallery.html",
            images=images.data,
            status=status,
            plans=plans,
            notice=notice,
            paid=status.plan in PAID_PLANS,
        )

    async def upload(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if not user_id:
            return go("/")
        form = await checked_form(request)
        try:
            return await store_photo(request, user_id, form)
        finally:
            await form.close()  # the spooled upload file

    async def store_photo(request: Request, user_id: str, form: Any) -> Response:
        file = form.get("photo")
        if not isinstance(file, UploadFile) or not file.filename:
            request.session["notice"] = "Choose a photo first."
            return go("/gallery")
        try:
            await client.for_user(user_id).images.upload(
                await file.read(), filename=file.filename, caption=str(form.get("caption") or "")
            )
            request.session["notice"] = "Uploaded."
        except errors.UserForbidden:
            return disconnected(request)
        except errors.QuotaExceeded:
            request.session["notice"] = "Your plan is full. Upgrade below to keep uploading."
        except errors.ValidationError as exc:
            request.session["notice"] = f"That file was refused: {exc.message}"
        return go("/gallery")

    async def upgrade(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if not user_id:
            return go("/")
        form = await checked_form(request)
        plan = str(form.get("plan", "pro"))
        try:
            checkout = await client.for_user(user_id).billing.checkout(
                plan, "monthly", return_url=config.url + "/gallery"
            )
        except errors.UserForbidden:
            return disconnected(request)
        except errors.AlreadySubscribed as exc:
            return go(exc.manage_url or "/gallery")
        return go(checkout.checkout_url)

    async def signout(request: Request) -> Response:
        await checked_form(request)
        sign_out(request)
        response = go("/")
        response.delete_cookie(RETURNING)  # else the next visit would sign in silently again
        return response

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await client.close()

    async def refused(request: Request, _exc: Exception) -> Response:
        return page(request, "home.html", 400, notice="That form expired. Try again.", button="")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/callback", callback),
            Route("/gallery", gallery),
            Route("/upload", upload, methods=["POST"]),
            Route("/upgrade", upgrade, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=config.session_secret,
                session_cookie="photo_app_session",
                same_site="lax",
                https_only=config.url.startswith("https://"),
            )
        ],
        exception_handlers={PermissionError: refused},
        lifespan=lifespan,
    )


def __getattr__(name: str) -> Any:
    # `uvicorn examples.photo_app.app:app` builds the app from the environment when asked
    if name == "app":
        return create_app()
    raise AttributeError(name)
