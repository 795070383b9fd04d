"""Image use cases: create (upload or URL import), get, list, update, delete, batch, usage."""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import Workspace
from imgpro.billing import meter
from imgpro.cdn import service as cdn
from imgpro.cdn.layout import OriginalMeta
from imgpro.cdn.pool import PoolBusy, RenderKilled
from imgpro.db.base import utcnow
from imgpro.errors import ApiError, busy, invalid
from imgpro.ids import is_id, new_id
from imgpro.images.cursor import decode_cursor, encode_cursor
from imgpro.images.fetch import fetch_to_file
from imgpro.images.schemas import Deleted, ImageFields, ImagePatch, image_object
from imgpro.images.tables import Image, ImageLabel
from imgpro.logs import log
from imgpro.media import jobs, working_copy
from imgpro.media.ingested import Ingested
from imgpro.ops.metrics import UPLOADS
from imgpro.principal import Principal
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from imgpro.storage import BlobNotFound, BlobStore
from imgpro.webhooks import service as webhooks

ANONYMOUS_RETENTION = timedelta(days=30)


@dataclass
class UploadedFile:
    """A multipart file already streamed to disk."""

    path: Path
    filename: str


def _not_found() -> ApiError:
    return ApiError("not_found", "No image with this id in your storage.")


def _in_app(workspace: Workspace | None) -> bool:
    """Images in an app's workspaces (a user's, or the app's own) are always public."""
    return workspace is not None and workspace.app_id is not None


def _live(now: datetime) -> Any:
    return or_(Image.expires_at.is_(None), Image.expires_at > now)


def max_bytes_for(runtime: Runtime, principal: Principal) -> int:
    settings = runtime.settings
    return (
        settings.max_anonymous_upload_bytes if principal.is_anonymous else settings.max_upload_bytes
    )


async def create_from_upload(
    db: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    upload: UploadedFile,
    fields: ImageFields,
) -> Image:
    await _check_caller_may_upload(runtime, principal, fields)
    return await _store(db, runtime, principal, upload.path, upload.filename, fields, "file")


async def create_from_url(
    db: AsyncSession, runtime: Runtime, principal: Principal, url: str, fields: ImageFields
) -> Image:
    await _check_caller_may_upload(runtime, principal, fields)
    dest = runtime.workdir / f"import-{new_id()}"
    try:
        fetched = await fetch_to_file(
            url,
            dest,
            max_bytes=max_bytes_for(runtime, principal),
            timeout=runtime.settings.import_timeout_seconds,
            allow_networks=[
                ipaddress.ip_network(net) for net in runtime.settings.import_allow_networks
            ],
        )
        return await _store(db, runtime, principal, fetched.path, fetched.filename, fields, "url")
    finally:
        dest.unlink(missing_ok=True)


async def _check_caller_may_upload(
    runtime: Runtime, principal: Principal, fields: ImageFields
) -> None:
    if _in_app(principal.workspace) and not fields.public:
        raise invalid("public", "Images uploaded by an app are always public.")
    if principal.is_anonymous:
        settings = runtime.settings
        message = "Anonymous uploads are rate-limited per address; use an API key to lift this."
        await runtime.limits.hit(
            f"{settings.anonymous_uploads_per_hour}/hour",
            "anon-upload",
            principal.client_ip,
            message=message,
        )
        await runtime.limits.hit(
            f"{settings.anonymous_uploads_per_day}/day",
            "anon-upload",
            principal.client_ip,
            message=message,
        )


async def _store(
    db: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    path: Path,
    filename: str,
    fields: ImageFields,
    field_name: str,
) -> Image:
    """Probe, then store blob and row together: on any failure neither remains. The last
    step of both create use cases, so it commits (or rolls back) their work."""
    settings = runtime.settings
    if principal.workspace is not None:
        await meter.check_upload_allowed(db, settings, principal.workspace)
    # what the check writes (HEIC made JPEG, a stripped file) goes here, and goes with it: a
    # render process killed mid-write cannot clean up after itself
    scratch = runtime.workdir / f"ingest-{new_id()}"
    try:
        ingested = await _ingest(runtime, principal, path, field_name, scratch)
        workspace = principal.workspace or await accounts.anonymous_workspace(db)
        now = utcnow()
        image_id = new_id()
        public = fields.public if principal.chooses_visibility and not _in_app(workspace) else True
        image = Image(
            id=image_id,
            workspace_id=workspace.id,
            shard=workspace.shard,
            filename=filename or f"{image_id}.{ingested.format}",
            format=ingested.format,
            content_type=ingested.content_type,
            width=ingested.width,
            height=ingested.height,
            bytes=ingested.bytes,
            frames=ingested.frames,
            animated=ingested.animated,
            transformable=ingested.transformable,
            status="ready",
            public=public,
            caption=fields.caption,
            meta=fields.metadata or {},
            labels=fields.labels or {},
            placeholder=ingested.placeholder.to_dict() if ingested.placeholder else None,
            blob_key=f"{workspace.shard}/{image_id}",
            published_at=now if public else None,
            expires_at=now + ANONYMOUS_RETENTION if principal.is_anonymous else None,
            created_at=now,
        )
        meta = OriginalMeta(
            format=ingested.format,
            content_type=ingested.content_type,
            etag=await cdn.etag_of(ingested.path),
            bytes=ingested.bytes,
            width=ingested.width,
            height=ingested.height,
            frames=ingested.frames,
            transformable=ingested.transformable,
            expires_at=image.expires_at.timestamp() if image.expires_at else None,
        )
        await cdn.publish(
            runtime.blobs, workspace.shard, image_id, ingested.path, meta, ingested.working_copy
        )
        try:
            await meter.charge_upload(db, settings, workspace, ingested.bytes)
            db.add(image)
            db.add_all(
                ImageLabel(image_id=image_id, key=k, value=v)
                for k, v in (fields.labels or {}).items()
            )
            await db.flush()  # the column defaults, for the Image object the app is sent
            await webhooks.emit(db, workspace, "image.created", image=image_object(settings, image))
            await db.commit()
        except BaseException:
            await db.rollback()
            await cdn.unpublish(runtime.blobs, image.shard, image_id)  # workspace is expired now
            raise
        UPLOADS.inc()
        return image
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _ingest(
    runtime: Runtime, principal: Principal, path: Path, field: str, scratch: Path
) -> Ingested:
    """Check the file at `path` in a render process (its decoders are untrusted input's, and
    this process imports no pixel library); it hands back the path of the file to store."""
    settings = runtime.settings
    try:
        return await runtime.renders.run(
            jobs.INGEST,
            path,
            workdir=scratch,
            max_bytes=max_bytes_for(runtime, principal),
            max_svg_bytes=settings.max_svg_bytes,
            max_pixels=settings.max_source_pixels,
            field=field,
        )
    except PoolBusy as full:
        raise busy(full.retry_after, "Every image processor is busy; retry shortly.") from None
    except (RenderKilled, jobs.PixelsFailed) as failed:  # over time, or a decoder crashed
        log.warning("ingest_failed", error=str(failed)[:200])
        raise ApiError("upload_failed", "The image could not be processed.") from None


def _deleted(image: Image) -> dict[str, Any]:
    """The `image` of an image.deleted event: what DELETE answers for it."""
    return Deleted(id=image.id).model_dump()


async def get(db: AsyncSession, workspace: Workspace, image_id: str) -> Image:
    if not is_id(image_id):  # never hand the database a string no image id can be
        raise _not_found()
    image = await db.get(Image, image_id)
    if image is None or image.workspace_id != workspace.id or not _is_live(image):
        raise _not_found()
    return image


async def find_public(db: AsyncSession, image_id: str) -> Image | None:
    """A public, live image by id, whatever its workspace (the viewer page)."""
    image = await db.get(Image, image_id) if is_id(image_id) else None
    return image if image is not None and image.public and _is_live(image) else None


def _is_live(image: Image) -> bool:
    return image.expires_at is None or image.expires_at > utcnow()


@dataclass(frozen=True)
class Page:
    images: list[Image]
    next_cursor: str | None


async def list_images(
    db: AsyncSession,
    workspace: Workspace,
    *,
    limit: int,
    cursor: str | None,
    labels: dict[str, str],
    ids: list[str] | None,
) -> Page:
    query = select(Image).where(Image.workspace_id == workspace.id, _live(utcnow()))
    if ids is not None:
        query = query.where(Image.id.in_(ids))
    for key, value in labels.items():
        query = query.where(
            select(ImageLabel.image_id)
            .where(
                ImageLabel.image_id == Image.id, ImageLabel.key == key, ImageLabel.value == value
            )
            .exists()
        )
    if cursor:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Image.created_at < created_at,
                and_(Image.created_at == created_at, Image.id < last_id),
            )
        )
    rows = list(
        (
            await db.execute(
                query.order_by(Image.created_at.desc(), Image.id.desc()).limit(limit + 1)
            )
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page(rows, next_cursor)


async def update(
    db: AsyncSession, settings: Settings, workspace: Workspace, image_id: str, patch: ImagePatch
) -> Image:
    """Change the fields `patch` names (absent ones stay; null clears); commits."""
    image = await get(db, workspace, image_id)
    sent = patch.model_fields_set
    if "public" in sent:
        if _in_app(workspace) and not patch.public:
            raise invalid("public", "Images of an app are always public.")
        if patch.public and not image.public:
            image.published_at = utcnow()
        image.public = patch.public
    if "caption" in sent:
        image.caption = patch.caption
    if "metadata" in sent:
        image.meta = patch.metadata or {}
    if "labels" in sent:
        labels = patch.labels or {}
        image.labels = labels
        await db.execute(delete(ImageLabel).where(ImageLabel.image_id == image.id))
        db.add_all(ImageLabel(image_id=image.id, key=k, value=v) for k, v in labels.items())
    await db.flush()
    await webhooks.emit(db, workspace, "image.updated", image=image_object(settings, image))
    await db.commit()
    return image


async def remove(db: AsyncSession, runtime: Runtime, workspace: Workspace, image_id: str) -> None:
    image = await get(db, workspace, image_id)
    await db.delete(image)
    await meter.release(db, workspace.id, image.bytes)
    await webhooks.emit(db, workspace, "image.deleted", image=_deleted(image))
    await db.commit()
    await cdn.unpublish(runtime.blobs, image.shard, image.id)


async def remove_many(
    db: AsyncSession, runtime: Runtime, workspace: Workspace, image_ids: list[str]
) -> list[str]:
    """Delete those of `image_ids` in the workspace. Every id is reported deleted: ids already
    gone or elsewhere are untouched, and saying so would leak whether they exist."""
    found = list(
        (
            await db.execute(
                select(Image).where(Image.workspace_id == workspace.id, Image.id.in_(image_ids))
            )
        ).scalars()
    )
    for image in found:
        await db.delete(image)
        await webhooks.emit(db, workspace, "image.deleted", image=_deleted(image))
    await meter.release(db, workspace.id, sum(image.bytes for image in found), len(found))
    await db.commit()
    for image in found:
        await cdn.unpublish(runtime.blobs, image.shard, image.id)
    return image_ids


async def sweep_expired(db: AsyncSession, blobs: BlobStore, batch: int = 200) -> int:
    """Delete one batch of images past their expires_at (anonymous uploads after 30 days):
    rows, meters and blobs. Returns how many went; call until it returns 0."""
    expired = list(
        (
            await db.execute(
                select(Image).where(Image.expires_at <= utcnow()).order_by(Image.id).limit(batch)
            )
        ).scalars()
    )
    for image in expired:
        await db.delete(image)
        await meter.release(db, image.workspace_id, image.bytes)
        workspace = await accounts.get_workspace(db, image.workspace_id)
        if workspace is not None:
            await webhooks.emit(db, workspace, "image.deleted", image=_deleted(image))
    await db.commit()
    await unpublish_all(blobs, [(image.shard, image.id) for image in expired])
    return len(expired)


def _needs_backfill() -> Any:
    """Images without the placeholder or the working copy an upload gets today."""
    large = or_(Image.width > working_copy.ABOVE, Image.height > working_copy.ABOVE)
    return or_(
        and_(Image.placeholder.is_(None), Image.format != "svg"),
        and_(Image.transformable.is_(True), Image.frames == 1, large),
    )


async def backfill_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).where(_needs_backfill())) or 0)


async def backfill_batch(
    db: AsyncSession, runtime: Runtime, after: str, batch: int = 20
) -> tuple[list[str], int]:
    """Fill placeholders and working copies of the next `batch` images after the id `after`
    that may lack them; (the ids visited, how many failed). Done rows drop out of the query,
    so a run that stops is resumed by running it again."""
    found = list(
        (
            await db.execute(
                select(Image)
                .where(_needs_backfill(), Image.id > after)
                .order_by(Image.id)
                .limit(batch)
            )
        ).scalars()
    )
    failed = 0
    for image in found:
        original = runtime.workdir / f"backfill-{new_id()}.{image.format}"
        try:
            await cdn.fetch_original(runtime.blobs, image.shard, image.id, image.format, original)
            if image.placeholder is None and image.format != "svg":
                made = await runtime.renders.run(jobs.PLACEHOLDER, original, image.format)
                image.placeholder = made.to_dict() if made else None
            await cdn.add_working_copy(
                runtime.blobs, runtime.renders, image.shard, image.id, original
            )
        except (BlobNotFound, jobs.PixelsFailed, RenderKilled, OSError) as error:
            failed += 1
            log.warning("backfill_failed", image=image.id, error=str(error)[:200])
        finally:
            original.unlink(missing_ok=True)
    await db.commit()
    return [image.id for image in found], failed


async def stored_in(db: AsyncSession, workspace_ids: list[str]) -> list[tuple[str, str]]:
    """(shard, id) of every image in these workspaces: read before their rows go."""
    rows = await db.execute(
        select(Image.shard, Image.id).where(Image.workspace_id.in_(workspace_ids))
    )
    return [(shard, image_id) for shard, image_id in rows.all()]


async def unpublish_all(blobs: BlobStore, stored: list[tuple[str, str]]) -> None:
    for shard, image_id in stored:
        await cdn.unpublish(blobs, shard, image_id)


async def usage(db: AsyncSession, runtime: Runtime, workspace: Workspace) -> meter.Usage:
    """The usage object of decisions.md §3: the billing meter of this workspace."""
    return await meter.usage(db, runtime.settings, workspace)


async def existing_ids(db: AsyncSession, image_ids: list[str]) -> set[str]:
    """Which of `image_ids` have an image row (deleted and never-committed ones do not)."""
    rows = await db.execute(select(Image.id).where(Image.id.in_(image_ids)))
    return set(rows.scalars())
