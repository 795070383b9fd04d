"""The sample image the transforms page renders live: drawn here, stored once through the normal
upload path in a workspace of the docs' own, so every example URL is this instance's CDN at work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts import service as accounts
from imgpro.ids import new_id
from imgpro.images import service as images
from imgpro.images.schemas import ImageFields
from imgpro.images.tables import Image
from imgpro.media import jobs
from imgpro.principal import Principal
from imgpro.runtime import Runtime


async def sample_image(db: AsyncSession, runtime: Runtime) -> Image:
    workspace = await accounts.docs_workspace(db)
    page = await images.list_images(db, workspace, limit=1, cursor=None, labels={}, ids=None)
    if page.images:
        return page.images[0]
    path = runtime.workdir / f"docs-sample-{new_id()}.jpg"
    try:
        await runtime.renders.run(jobs.SAMPLE, path)
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
