"""The sample image the transforms page renders live: drawn here, stored once through the normal
upload path in a workspace of the docs' own, so every example URL is this instance's CDN at work."""

from __future__ import annotations

from pathlib import Path

import pyvips
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts import service as accounts
from imgpro.ids import new_id
from imgpro.images import service as images
from imgpro.images.schemas import ImageFields
from imgpro.images.tables import Image
from imgpro.principal import Principal
from imgpro.runtime import Runtime

WIDTH, HEIGHT = 1200, 800


def draw(path: Path) -> None:
    """A harbour at dusk: a sky gradient, a sun, a striped sea (stripes make blur and sharpen
    visible; the off-centre sun makes crops and gravity visible)."""
    xyz = pyvips.Image.xyz(WIDTH, HEIGHT)
    x, y = xyz[0], xyz[1]
    t = y / HEIGHT
    top, bottom = (30, 58, 138), (249, 115, 22)
    red, green, blue = (t * (bottom[i] - top[i]) + top[i] for i in range(3))
    sky = red.bandjoin([green, blue])
    sun_distance = ((x - 820) ** 2 + (y - 430) ** 2) ** 0.5
    sun = (sun_distance < 120).ifthenelse([253, 224, 71], sky)
    waves = ((y * 20).sin() * 18 + 40).cast("uchar")  # vips works in degrees
    sea = waves.bandjoin([waves + 50, waves + 90])
    picture = (y > 520).ifthenelse(sea, sun).cast("uchar")
    picture.copy(interpretation="srgb").jpegsave(str(path), Q=88)


async def sample_image(db: AsyncSession, runtime: Runtime) -> Image:
    workspace = await accounts.docs_workspace(db)
    page = await images.list_images(db, workspace, limit=1, cursor=None, labels={}, ids=None)
    if page.images:
        return page.images[0]
    path = runtime.workdir / f"docs-sample-{new_id()}.jpg"
    try:
        draw(path)
        docs = Principal.system(workspace, "docs-sample")
        return await images.create_from_upload(
            db,
            runtime,
            docs,
            images.UploadedFile(path, "harbour.jpg"),
            ImageFields(caption="Harbour at dusk (the docs' sample)"),
        )
    finally:
        path.unlink(missing_ok=True)
