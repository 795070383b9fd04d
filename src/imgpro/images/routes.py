"""HTTP for /v1/images and /v1/usage: parse at the edge, call the service, shape the answer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from imgpro.deps import Caller, Db, IdempotencyKey, Rt
from imgpro.errors import invalid
from imgpro.http import parse_as, read_json
from imgpro.idempotency import service as idempotency
from imgpro.idempotency.answer import answer_once
from imgpro.ids import ID_PATTERN, new_id
from imgpro.images import fields as parse
from imgpro.images import service as images
from imgpro.images.schemas import (
    IMAGE_EXAMPLE,
    BatchDeleteBody,
    BatchResult,
    Deleted,
    ImageFields,
    ImageList,
    ImageOut,
    ImagePatch,
    ImportBody,
    Pagination,
    Usage,
    multipart_body,
)
from imgpro.images.tables import Image
from imgpro.openapi import CALLER_ERRORS, json_body, responses
from imgpro.principal import Principal
from imgpro.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["images"])


class _ImageIdConvertor(Convertor[str]):
    """{image_id} routes only an image id, so /v1/images/batch is a path of its own (a GET
    there is a 405 listing DELETE, not an image lookup)."""

    regex = ID_PATTERN.strip("^$")

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("image_id", _ImageIdConvertor())
ImageIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The image's id.")]

_LABEL_PARAM = re.compile(r"^label\[(.*)\]$")
_FORM_FIELDS = {"file", "caption", "public", "labels", "metadata"}


async def _spool(upload: UploadFile, rt: Rt) -> tuple[images.UploadedFile, str]:
    """Copy the part to a file of our own in chunks (never whole in memory); return its hash."""
    path = rt.workdir / f"upload-{new_id()}"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        while chunk := await upload.read(1024 * 1024):
            digest.update(chunk)
            out.write(chunk)
    return images.UploadedFile(path, parse.parse_filename(upload.filename)), digest.hexdigest()


@router.post(
    "/images",
    status_code=201,
    response_model=ImageOut,
    summary="Upload a file (multipart) or import a URL (JSON)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {**multipart_body(), **json_body(ImportBody)},
        },
        # anonymous callers may upload too (public, kept 30 days, rate-limited per address)
        "security": [{}],
    },
    responses=responses(
        201,
        IMAGE_EXAMPLE,
        *CALLER_ERRORS,
        "bad_request",
        "quota_exceeded",
        "idempotency_key_conflict",
        "idempotency_key_in_progress",
        "upload_failed",
        "fetch_failed",
    ),
)
async def create_image(
    request: Request, caller: Caller, db: Db, rt: Rt, idempotency_key: IdempotencyKey = None
) -> Response:
    """Store an image: send the file as the multipart part `file`, or JSON with the `url` of a
    public image to import. Caption, labels, metadata and public may come along. Without a
    credential the upload is anonymous: public, kept 30 days, limited per address."""
    caller.require_ability("write")
    content_type = request.headers.get("content-type", "")
    async with AsyncExitStack() as cleanup:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=2, max_fields=20)
            cleanup.push_async_callback(form.close)
            request_hash, produce = await _upload_request(form, caller, db, rt, cleanup)
        elif content_type.startswith("application/json"):
            request_hash, produce = _import_request(await read_json(request), caller, db, rt)
        else:
            raise invalid("file", "Send multipart/form-data with a file part, or JSON with a url.")

        async def answer() -> ImageOut:
            return ImageOut.of(rt.settings, await produce())

        return await answer_once(
            rt.sessions, caller.scope, idempotency_key, request_hash, 201, answer
        )


Produce = Callable[[], Awaitable[Image]]


async def _upload_request(
    form: FormData, caller: Principal, db: AsyncSession, rt: Runtime, cleanup: AsyncExitStack
) -> tuple[str, Produce]:
    """A multipart create: its fingerprint and the upload to run."""
    unknown = set(form.keys()) - _FORM_FIELDS
    if unknown:
        raise invalid(
            sorted(unknown)[0], "Unknown field; send file, caption, public, labels or metadata."
        )
    files = [v for v in form.getlist("file") if isinstance(v, UploadFile)]
    if len(form.getlist("file")) > 1:
        raise invalid("file", "Send exactly one file part.")
    if not files:
        raise invalid("file", "Send the image as a multipart part named file, or JSON with a url.")
    text = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
    fields = parse_as(ImageFields, _form_fields(text))
    spooled, file_hash = await _spool(files[0], rt)
    cleanup.callback(spooled.path.unlink, missing_ok=True)
    request_hash = idempotency.fingerprint(
        file_hash, spooled.filename, files[0].content_type or "", json.dumps(text, sort_keys=True)
    )
    return request_hash, lambda: images.create_from_upload(db, rt, caller, spooled, fields)


def _form_fields(text: dict[str, str]) -> dict[str, Any]:
    """Multipart text parts as the JSON body would carry them (labels and metadata are JSON);
    an empty part is a field left blank, so not sent (what a browser form sends)."""
    decoded: dict[str, Any] = {name: value for name, value in text.items() if value}
    for name in ("labels", "metadata"):
        if name in decoded:
            decoded[name] = parse.json_object(name, text[name])
    if "public" in decoded:
        if text["public"] not in ("true", "false"):
            raise invalid("public", "public is true or false.")
        decoded["public"] = text["public"] == "true"
    return decoded


def _import_request(
    body: Any, caller: Principal, db: AsyncSession, rt: Runtime
) -> tuple[str, Produce]:
    """A JSON create (URL import): its fingerprint and the import to run."""
    if isinstance(body, dict) and "file" in body:
        raise invalid("file", "Send a file as multipart/form-data, not in JSON.")
    request = parse_as(ImportBody, body)
    fields = ImageFields.model_validate(request.model_dump(exclude={"url"}, exclude_unset=True))
    request_hash = idempotency.fingerprint(json.dumps(body, sort_keys=True))
    return request_hash, lambda: images.create_from_url(db, rt, caller, request.url, fields)


LIST_EXAMPLE = {
    "object": "list",
    "data": [IMAGE_EXAMPLE],
    "pagination": {"has_more": True, "next_cursor": "MjAyNi0xMS0yOVQwODowMDowMFp8azNYYTlRcFo"},
}


@router.get(
    "/images",
    response_model=ImageList,
    summary="List images (cursor pagination, label filters) or look up ids",
    openapi_extra={
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
            },
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {
                "name": "ids",
                "in": "query",
                "schema": {"type": "string", "pattern": parse.LIST_IDS_PATTERN},
                "description": f"Up to {parse.MAX_LIST_IDS} comma-separated ids.",
            },
            {
                "name": "label",
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                "description": "label[key]=value filters, combined with AND.",
            },
        ]
    },
    responses=responses(200, LIST_EXAMPLE, *CALLER_ERRORS),
)
async def list_images(request: Request, caller: Caller, db: Db, rt: Rt) -> ImageList:
    """The workspace's live images, newest first, `limit` per page; pass `next_cursor` back as
    `cursor` for the next page. `label[key]=value` filters combine with AND; `ids` looks up
    specific images (unknown ids are left out)."""
    workspace = caller.require("read")
    params = request.query_params
    labels: dict[str, str] = {}
    for key, value in params.multi_items():
        match = _LABEL_PARAM.match(key)
        if match:
            labels[parse.check_label_key(match.group(1))] = parse.check_text("labels", value)
    ids = parse.parse_list_ids(params["ids"]) if "ids" in params else None
    page = await images.list_images(
        db,
        workspace,
        limit=parse.parse_limit(params.get("limit"), default=parse.MAX_LIST_IDS),
        cursor=params.get("cursor") or None,
        labels=labels,
        ids=ids,
    )
    return ImageList(
        data=[ImageOut.of(rt.settings, image) for image in page.images],
        pagination=Pagination(has_more=page.next_cursor is not None, next_cursor=page.next_cursor),
    )


@router.delete(
    "/images/batch",
    response_model=BatchResult,
    summary="Delete up to 100 images",
    openapi_extra={"requestBody": {"required": True, "content": json_body(BatchDeleteBody)}},
    responses=responses(
        200,
        {
            "object": "batch_result",
            "data": [{"id": "k3Xa9QpZ", "object": "image", "deleted": True}],
            "errors": [],
        },
        *CALLER_ERRORS,
    ),
)
async def delete_batch(request: Request, caller: Caller, db: Db, rt: Rt) -> BatchResult:
    """Delete the listed images of the workspace at once; ids that are not the caller's are
    skipped (never reported, so nothing leaks about other workspaces)."""
    workspace = caller.require("write")
    body = parse_as(BatchDeleteBody, await read_json(request))
    deleted = await images.remove_many(db, rt, workspace, list(dict.fromkeys(body.ids)))
    return BatchResult(data=[Deleted(id=image_id) for image_id in deleted], errors=[])


@router.get(
    "/images/{image_id:image_id}",
    response_model=ImageOut,
    summary="Get one image",
    responses=responses(200, IMAGE_EXAMPLE, *CALLER_ERRORS, "not_found"),
)
async def get_image(image_id: ImageIdPath, caller: Caller, db: Db, rt: Rt) -> ImageOut:
    """One image of the caller's workspace; another workspace's image is `not_found`."""
    workspace = caller.require("read")
    return ImageOut.of(rt.settings, await images.get(db, workspace, image_id))


@router.patch(
    "/images/{image_id:image_id}",
    response_model=ImageOut,
    summary="Update caption, labels, metadata or public",
    openapi_extra={"requestBody": {"required": True, "content": json_body(ImagePatch)}},
    responses=responses(200, IMAGE_EXAMPLE, *CALLER_ERRORS, "not_found"),
)
async def update_image(
    image_id: ImageIdPath, request: Request, caller: Caller, db: Db, rt: Rt
) -> ImageOut:
    """Change the fields sent; absent fields stay, null clears caption, labels or metadata.
    Labels are replaced as a whole."""
    workspace = caller.require("write")
    patch = parse_as(ImagePatch, await read_json(request))
    image = await images.update(db, rt.settings, workspace, image_id, patch)
    return ImageOut.of(rt.settings, image)


@router.delete(
    "/images/{image_id:image_id}",
    response_model=Deleted,
    summary="Delete one image",
    responses=responses(
        200, {"id": "k3Xa9QpZ", "object": "image", "deleted": True}, *CALLER_ERRORS, "not_found"
    ),
)
async def delete_image(image_id: ImageIdPath, caller: Caller, db: Db, rt: Rt) -> Deleted:
    """Delete the image, its variants and its CDN files; its URLs answer 404 from now on."""
    workspace = caller.require("write")
    await images.remove(db, rt, workspace, image_id)
    return Deleted(id=image_id)


USAGE_EXAMPLE = {
    "object": "usage",
    "plan": "free",
    "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
    "limits": {
        "monthly_uploads": {"used": 12, "limit": 100},
        "storage_bytes": {"used": 18432000, "limit": 1073741824},
        "images": {"used": 40, "limit": 1000},
    },
    "limits_enforced": True,
    "totals": {"images_stored": 40},
}


@router.get(
    "/usage",
    response_model=Usage,
    summary="Plan, usage and limits of the caller's workspace",
    responses=responses(200, USAGE_EXAMPLE, *CALLER_ERRORS),
    tags=["usage"],
)
async def get_usage(caller: Caller, db: Db, rt: Rt) -> Usage:
    """This month's uploads, stored bytes and images against the plan's limits."""
    workspace = caller.require("read")
    return Usage.of(await images.usage(db, rt, workspace))
