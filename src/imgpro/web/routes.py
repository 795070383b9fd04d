"""Web pages: home and the image viewer (`page_url`)."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response, StreamingResponse

from imgpro.accounts import service as accounts
from imgpro.billing.plans import catalogue, price_label
from imgpro.cdn.layout import original_key
from imgpro.deps import Db, Rt
from imgpro.docs.sample import sample_image
from imgpro.ids import is_id
from imgpro.images import service as images
from imgpro.images.schemas import image_object
from imgpro.media.transform import named_size
from imgpro.units import size_text
from imgpro.web.pages import STATIC_DIR, not_found_page, render
from imgpro.web.security import Viewer

router = APIRouter()


@router.get("/healthz")
async def health() -> dict[str, str]:
    """For load balancers and uptime checks: the process answers."""
    return {"status": "ok"}


# the home page's live demo: (query, what it shows, width, height) of the 1200×800 sample
DEMOS = (
    ("?w=480", "Resized to 480 px wide", 480, 320),
    ("?w=320&h=320&fit=cover&gravity=east", "Square crop, anchored on the sun", 320, 320),
    ("?w=480&saturation=0", "Greyscale", 480, 320),
    ("?w=480&blur=6&format=webp", "Blurred, served as WebP", 480, 320),
)


@router.get("/")
async def home(request: Request, viewer: Viewer, db: Db, rt: Rt) -> Response:
    sample = await sample_image(db, rt)
    return render(
        request,
        "home.html",
        {
            "viewer": viewer,
            "sample": image_object(rt.settings, sample),
            "demos": DEMOS,
            "plans": catalogue(rt.settings).plans,
            "price_label": price_label,
        },
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/{image_id}")
async def viewer_page(image_id: str, request: Request, viewer: Viewer, db: Db, rt: Rt) -> Response:
    image = await images.find_public(db, image_id) if is_id(image_id) else None
    if image is None:
        return not_found_page(request, viewer)
    workspace = await accounts.get_workspace(db, image.workspace_id) if viewer else None
    owned_by = workspace.kind if workspace and viewer and workspace.user_id == viewer.id else None
    width, height = (
        named_size(image.width, image.height, "l")
        if image.transformable
        else (image.width, image.height)
    )
    return render(
        request,
        "viewer.html",
        {
            "viewer": viewer,
            "owned_by": owned_by,  # personal | app, when the visitor owns the image
            "image": image,
            "object": image_object(rt.settings, image),
            "display": {"width": width, "height": height},
            "size_label": size_text(image.bytes),
        },
    )


def attachment(filename: str) -> str:
    """A Content-Disposition that saves under `filename` (RFC 6266: an ASCII fallback and
    the exact UTF-8 name)."""
    fallback = "".join(c for c in filename if c.isascii() and c.isprintable() and c not in '"\\')
    return f"attachment; filename=\"{fallback or 'image'}\"; filename*=UTF-8''{quote(filename)}"


@router.get("/{image_id}/download")
async def download(image_id: str, request: Request, viewer: Viewer, db: Db, rt: Rt) -> Response:
    """The original, saved under its own file name (the CDN URL opens it in the browser)."""
    image = await images.find_public(db, image_id) if is_id(image_id) else None
    if image is None:
        return not_found_page(request, viewer)
    media_type = mimetypes.guess_type(f"x.{image.format}")[0] or "application/octet-stream"
    return StreamingResponse(
        rt.blobs.stream(original_key(image.shard, image.id, image.format)),
        media_type=media_type,
        headers={
            "Content-Disposition": attachment(image.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=3600",
        },
    )
