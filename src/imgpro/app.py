"""Builds the one ASGI application that serves the three surfaces (web, api, cdn).

Requests go to a surface by `Host` when the configured base URLs have different hosts, else by
path on the shared origin: `/v1/*` and `/openapi.json` → api, the CDN URL's path (`/src/*`) →
cdn, everything else → web."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette._utils import get_route_path  # Starlette's and FastAPI's routers match on it
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from imgpro import __doc__ as package_doc
from imgpro.apps.routes import router as apps_router
from imgpro.apps.rules import ConnectRefused
from imgpro.billing.pages import router as billing_pages
from imgpro.billing.plans import catalogue
from imgpro.billing.routes import router as billing_router
from imgpro.cdn import service as cdn_service
from imgpro.cdn.hits import HitLog, HitPath
from imgpro.cdn.routes import routes as cdn_routes
from imgpro.cdn.variants import Variants
from imgpro.docs.routes import router as docs_router
from imgpro.http import ENVELOPE_HANDLERS, BodyLimit, RequestContext, allowed_methods
from imgpro.images.routes import router as images_router
from imgpro.logs import configure as configure_logs
from imgpro.logs import log
from imgpro.openapi import complete as complete_openapi
from imgpro.ops.metrics import Measured, metrics
from imgpro.ops.outages import RETRY_AFTER_SECONDS, unavailable
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from imgpro.web.connect import connect_refused_page
from imgpro.web.connect import router as connect_router
from imgpro.web.dashboard import NoSuchApp, no_such_app_page
from imgpro.web.dashboard import router as dashboard_router
from imgpro.web.pages import STATIC_DIR, error_page, not_found_page, redirect
from imgpro.web.routes import router as web_router
from imgpro.web.security import CsrfRefused, SignInRequired
from imgpro.web.signin import router as signin_router
from imgpro.webhooks.delivery import Sender


def redirect_slashes_to(router: Router, base_url: str) -> None:
    """Redirect `/path/` to `/path` (and back) when only the other one exists, to an address
    built from the surface's configured base URL: Starlette's own redirect copies the request's
    `Host` header into `Location` and drops the surface's path prefix."""
    router.redirect_slashes = False
    not_found = router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        root: str = scope.get("root_path", "")  # the surface's prefix: not part of its routes
        path = get_route_path(scope)  # what the router matches on, as Starlette takes it
        if scope["type"] == "http" and path not in ("", "/"):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            other_scope = {**scope, "path": root + other}
            if any(route.matches(other_scope)[0] != Match.NONE for route in router.routes):
                query = scope.get("query_string", b"").decode("latin-1")
                url = base_url + other + (f"?{query}" if query else "")
                await RedirectResponse(url)(scope, receive, send)
                return
        await not_found(scope, receive, send)

    router.default = default


def build_api(runtime: Runtime) -> FastAPI:
    api = FastAPI(
        title="imgpro API",
        version="1",
        description=(package_doc or "")
        + ' Every error answers the envelope {"error": {"type", "code", "message"}}.',
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        # API paths are exact: `/v1/images/` is a not_found envelope, never a redirect
        redirect_slashes=False,
        exception_handlers=ENVELOPE_HANDLERS,
        servers=[{"url": runtime.settings.api_url}],
    )
    api.state.runtime = runtime
    api.include_router(images_router)
    api.include_router(apps_router)
    api.include_router(billing_router)
    generate = api.openapi

    @functools.cache
    def completed_openapi() -> dict[str, Any]:
        # once per app: its routes and plan catalogue are fixed when it is built, and completing
        # the document (every body model's JSON schema) cost ~1.4 ms CPU on every request
        return complete_openapi(generate(), [plan.id for plan in catalogue(runtime.settings).paid])

    api.openapi = completed_openapi  # type: ignore[method-assign]
    api.add_route("/metrics", metrics, include_in_schema=False)
    return api


def build_cdn(runtime: Runtime) -> Starlette:
    cdn = Starlette(routes=cdn_routes, exception_handlers=ENVELOPE_HANDLERS)
    cdn.state.runtime = runtime
    redirect_slashes_to(cdn.router, runtime.settings.cdn_url)
    cdn.state.variants = Variants(
        runtime.blobs, runtime.settings, runtime.renders, lock=runtime.render_lock
    )
    runtime.blobs.on_gone(cdn_service.META_CACHE.gone)  # deletes made through other nodes
    return cdn


async def _web_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found_page(request)
    page = error_page(request, exc.status_code, "Request refused", str(exc.detail))
    page.headers.update(exc.headers or {})
    if exc.status_code == 405:
        page.headers["Allow"] = allowed_methods(request)
    return page


async def _csrf_refused(request: Request, _exc: Exception) -> Response:
    return error_page(
        request,
        403,
        "This form has expired",
        "The form was sent without a valid security token, so nothing was changed.",
        "Go back, reload the page and try again.",
    )


async def _sign_in_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect("/signin?" + urlencode({"next": exc.next_path}))


async def _web_server_error(request: Request, exc: Exception) -> Response:
    if unavailable(exc) is not None:
        page = error_page(
            request,
            503,
            "Temporarily unavailable",
            "A service this page needs is down for a moment; nothing was lost.",
            "Try again in a few seconds.",
        )
        page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return page
    return error_page(
        request,
        500,
        "Something went wrong",
        "This page failed on our side; it has been logged.",
        "Try again in a moment.",
    )


def build_web(runtime: Runtime) -> FastAPI:
    web = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers={
            **ENVELOPE_HANDLERS,
            HTTPException: _web_http_error,
            CsrfRefused: _csrf_refused,
            ConnectRefused: connect_refused_page,
            SignInRequired: _sign_in_required,
            NoSuchApp: no_such_app_page,
            Exception: _web_server_error,
        },
    )
    web.state.runtime = runtime
    redirect_slashes_to(web.router, runtime.settings.web_url)
    web.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # before web_router: its catch-all GET /{image_id} (the viewer) must come last
    web.include_router(signin_router)
    web.include_router(connect_router)
    web.include_router(dashboard_router)
    web.include_router(billing_pages)
    web.include_router(docs_router)
    web.include_router(web_router)
    return web


@dataclass(frozen=True)
class Surface:
    app: ASGIApp
    host: str
    prefix: str  # path prefix of the base URL: the surface's root_path, not part of its routes

    def path_of(self, path: str) -> str:
        """A request's path as this surface sees it."""
        if self.prefix and path.startswith(self.prefix):
            return path[len(self.prefix) :] or "/"
        return path


class Surfaces:
    """Routes each request to its surface; checks settings at startup, closes the runtime."""

    def __init__(self, runtime: Runtime, web: ASGIApp, api: ASGIApp, cdn: ASGIApp) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.webhooks: Sender | None = None

        def surface(app: ASGIApp, url: str) -> Surface:
            parts = urlsplit(url)
            return Surface(app, parts.netloc.lower(), parts.path.rstrip("/"))

        self.web = surface(Measured(web, "web"), settings.web_url)
        self.api = surface(Measured(api, "api"), settings.api_url)
        self.cdn = surface(Measured(cdn, "cdn"), settings.cdn_url)
        self.by_host = len({self.web.host, self.api.host, self.cdn.host}) > 1

    def pick(self, scope: Scope) -> Surface:
        path: str = scope["path"]
        candidates = [self.web, self.api, self.cdn]
        if self.by_host:
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1").lower()
            same_host = [s for s in candidates if s.host == host]
            candidates = same_host or candidates
        cdn = self.cdn if self.cdn in candidates else None
        if cdn is not None and (
            path.startswith(cdn.prefix + "/") if cdn.prefix else len(candidates) == 1
        ):
            return cdn
        if self.api in candidates and (
            path.startswith("/v1/") or path in ("/v1", "/openapi.json", "/metrics")
        ):
            return self.api
        if self.web in candidates:
            return self.web
        return candidates[0]

    def cdn_path(self, scope: Scope) -> str | None:
        """The path the cdn surface sees, for a request that goes to it (else None)."""
        return self.cdn.path_of(scope["path"]) if self.pick(scope) is self.cdn else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        surface = self.pick(scope)
        if surface.prefix and scope["path"].startswith(surface.prefix):
            # ASGI: `path` stays whole and `root_path` names the part the surface does not
            # route on (Starlette takes it off). Taking it off `path` here as well cut it twice
            # from `/src/src/…`: a workspace whose shard is `src` had every image 404.
            scope = {**scope, "root_path": scope.get("root_path", "") + surface.prefix}
        await surface.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # report why the server can't start, then stop
                    log.exception("startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.webhooks is not None:
                    await self.webhooks.stop()
                await self.runtime.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        settings = self.runtime.settings
        if settings.env == "production" and (problems := settings.production_problems()):
            raise RuntimeError("refusing to start in production: " + "; ".join(problems))
        catalogue(settings)  # a broken plans file stops the start with its reason
        await self.runtime.start()
        if settings.webhook_delivery:
            self.webhooks = Sender(self.runtime)
            self.webhooks.start()
        log.info("started", web=settings.web_url, api=settings.api_url, cdn=settings.cdn_url)


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    configure_logs()  # here, not in the CLI: every worker process builds its own app
    runtime = Runtime.build(settings)
    api_app = build_api(runtime)
    web = build_web(runtime)
    web.state.openapi = api_app.openapi  # the docs' API reference is made from it
    api = BodyLimit(api_app, settings.max_upload_bytes, settings.max_anonymous_upload_bytes)
    surfaces = Surfaces(runtime, web, api, build_cdn(runtime))
    hit_log = HitLog()
    runtime.closers.append(hit_log.flush)  # the last second's hits, at shutdown
    return HitPath(RequestContext(surfaces), surfaces.cdn_path, runtime.blobs, hit_log)
