"""Rendering pages: one Jinja2 environment, the surface URLs in every template, and the
headers every page sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from imgpro.media import thumbhash_draw
from imgpro.units import size_text, storage_text
from imgpro.web import brand
from imgpro.web.security import csrf_token, remember_csrf

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(
    imgpro_button=brand.button, connect_url=brand.connect_url, button_variants=brand.VARIANT_NAMES
)


def placeholder_style(image: dict[str, Any]) -> str:
    """CSS that paints an Image object's placeholder (decisions.md §8) under the <img> until
    it loads; empty for images without one (SVG, not yet backfilled)."""
    found = image.get("placeholder")
    if not found:
        return ""
    drawn = thumbhash_draw.data_url(found["thumbhash"])
    return f"background:{found['color']} url({drawn}) center/cover no-repeat"


TEMPLATES.env.filters["placeholder_style"] = placeholder_style
TEMPLATES.env.globals.update(size_text=size_text, storage_text=storage_text)
STATIC_DIR = Path(__file__).parent / "static"

PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "web_url": settings.web_url,
            "api_url": settings.api_url,
            "csrf_token": csrf_token(request),
            **(context or {}),
        },
        status_code=status_code,
    )
    response.headers.update(PAGE_HEADERS)
    remember_csrf(request, response)
    return response


def error_page(
    request: Request,
    status_code: int,
    heading: str,
    message: str,
    next_step: str = "",
    **context: Any,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"heading": heading, "message": message, "next_step": next_step, **context},
        status_code,
    )


def not_found_page(request: Request, viewer: Any = None) -> HTMLResponse:
    """The one 404 page of the web surface, whatever the address looked like: an unknown
    path, a deleted, expired or private image, a dashboard path that does not exist."""
    return render(request, "not_found.html", {"viewer": viewer}, 404)


def redirect(url: str, status_code: int = 303) -> RedirectResponse:
    """A redirect carrying the page headers (no Referer leaks the URL that sent it)."""
    response = RedirectResponse(url, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def form_text(form: Any, name: str, limit: int = 4096) -> str:
    """A text field of a posted form ('' when absent or a file), without NUL characters
    (PostgreSQL cannot store them; no field has a use for them)."""
    value = form.get(name)
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""
