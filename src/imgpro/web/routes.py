"""Web pages: home and the image viewer (`page_url`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from imgpro.deps import Db, Rt
from imgpro.ids import is_id
from imgpro.images import service as images
from imgpro.images.schemas import image_object
from imgpro.media.transform import named_size
from imgpro.web.pages import error_page, render

router = APIRouter()


def human_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


@router.get("/healthz")
async def health() -> dict[str, str]:
    """For load balancers and uptime checks: the process answers."""
    return {"status": "ok"}


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/{image_id}")
async def viewer(image_id: str, request: Request, db: Db, rt: Rt) -> Response:
    image = await images.find_public(db, image_id) if is_id(image_id) else None
    if image is None:
        return error_page(
            request,
            404,
            "Image not found",
            "This image does not exist, was deleted, has expired or is private.",
        )
    width, height = (
        named_size(image.width, image.height, "l")
        if image.transformable
        else (image.width, image.height)
    )
    return render(
        request,
        "viewer.html",
        {
            "image": image,
            "object": image_object(rt.settings, image),
            "display": {"width": width, "height": height},
            "size_label": human_bytes(image.bytes),
        },
    )
