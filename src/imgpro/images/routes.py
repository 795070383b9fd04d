"""HTTP for /v1/images and /v1/usage: parse at the edge, call the service, shape the answer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from imgpro.auth import Principal
from imgpro.deps import Caller, Db, Rt
from imgpro.errors import invalid
from imgpro.http import read_json
from imgpro.idempotency import service as idempotency
from imgpro.ids import new_id
from imgpro.images import fields as parse
from imgpro.images import service as images
from imgpro.images.schemas import (
    BatchDeleteBody,
    BatchResult,
    Deleted,
    ImageList,
    ImageOut,
    ImagePatch,
    ImportBody,
    Usage,
    image_object,
)
from imgpro.images.tables import Image
from imgpro.openapi import error_responses, json_body, multipart_body
from imgpro.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["images"])

_LABEL_PARAM = re.compile(r"^label\[(.*)\]$")
_CREATE_FIELDS = {"file", "caption", "public", "labels", "metadata"}


def _fields_from(source: dict[str, Any]) -> images.NewImageFields:
    return images.NewImageFields(
        caption=parse.parse_caption(source.get("caption")),
        public=None if source.get("public") is None else parse.parse_public(source["public"]),
        labels=parse.parse_labels(source["labels"]) if source.get("labels") is not None else {},
        metadata=(
            parse.parse_metadata(source["metadata"]) if source.get("metadata") is not None else {}
        ),
    )


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
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
            },
        ],
    },
    responses=error_responses(401, 403, 409, 422, 429, 502, 504),
)
async def create_image(request: Request, caller: Caller, db: Db, rt: Rt) -> Response:
    caller.require_ability("write")
    content_type = request.headers.get("content-type", "")
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key)
    async with AsyncExitStack() as cleanup:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=2, max_fields=20)
            cleanup.push_async_callback(form.close)
            request_hash, produce = await _upload_request(form, caller, db, rt, cleanup)
        elif content_type.startswith("application/json"):
            request_hash, produce = _import_request(await read_json(request), caller, db, rt)
        else:
            raise invalid("file", "Send multipart/form-data with a file part, or JSON with a url.")

        async def respond() -> tuple[int, str]:
            return 201, json.dumps(image_object(rt.settings, await produce()))

        if idempotency_key is None:
            status, text_body = await respond()
        else:
            status, text_body = await idempotency.run_once(
                rt.sessions, caller.scope, idempotency_key, request_hash, respond
            )
        return Response(text_body, status_code=status, media_type="application/json")


Produce = Callable[[], Awaitable[Image]]


async def _upload_request(
    form: FormData, caller: Principal, db: AsyncSession, rt: Runtime, cleanup: AsyncExitStack
) -> tuple[str, Produce]:
    """A multipart create: its fingerprint and the upload to run."""
    unknown = set(form.keys()) - _CREATE_FIELDS
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
    fields = _fields_from(text)
    spooled, file_hash = await _spool(files[0], rt)
    cleanup.callback(spooled.path.unlink, missing_ok=True)
    request_hash = idempotency.fingerprint(
        file_hash, spooled.filename, files[0].content_type or "", json.dumps(text, sort_keys=True)
    )
    return request_hash, lambda: images.create_from_upload(db, rt, caller, spooled, fields)


def _import_request(
    body: Any, caller: Principal, db: AsyncSession, rt: Runtime
) -> tuple[str, Produce]:
    """A JSON create (URL import): its fingerprint and the import to run."""
    if not isinstance(body, dict):
        raise invalid("body", "Send a JSON object with a url.")
    if "file" in body:
        raise invalid("file", "Send a file as multipart/form-data, not in JSON.")
    unknown = set(body) - (_CREATE_FIELDS | {"url"})
    if unknown:
        raise invalid(sorted(unknown)[0], "Unknown field.")
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise invalid("url", "Send the address of a public image as url.")
    fields = _fields_from(body)
    request_hash = idempotency.fingerprint(json.dumps(body, sort_keys=True))
    return request_hash, lambda: images.create_from_url(db, rt, caller, url, fields)


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
                "schema": {"type": "string"},
                "description": "Up to 50 comma-separated ids.",
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
    responses=error_responses(401, 403, 422, 429),
)
async def list_images(request: Request, caller: Caller, db: Db, rt: Rt) -> JSONResponse:
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
    return JSONResponse(
        {
            "object": "list",
            "data": [image_object(rt.settings, image) for image in page.images],
            "pagination": {
                "has_more": page.next_cursor is not None,
                "next_cursor": page.next_cursor,
            },
        }
    )


@router.delete(
    "/images/batch",
    response_model=BatchResult,
    summary="Delete up to 100 images",
    openapi_extra={"requestBody": {"required": True, "content": json_body(BatchDeleteBody)}},
    responses=error_responses(401, 403, 422, 429),
)
async def delete_batch(request: Request, caller: Caller, db: Db, rt: Rt) -> JSONResponse:
    workspace = caller.require("write")
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"ids"}:
        raise invalid("ids", 'Send {"ids": [...]} with 1–100 image ids.')
    deleted = await images.remove_many(db, rt, workspace, parse.parse_batch_ids(body["ids"]))
    return JSONResponse(
        {
            "object": "batch_result",
            "data": [{"id": image_id, "object": "image", "deleted": True} for image_id in deleted],
            "errors": [],
        }
    )


@router.get(
    "/images/{image_id}",
    response_model=ImageOut,
    summary="Get one image",
    responses=error_responses(401, 403, 404, 429),
)
async def get_image(image_id: str, caller: Caller, db: Db, rt: Rt) -> JSONResponse:
    workspace = caller.require("read")
    return JSONResponse(image_object(rt.settings, await images.get(db, workspace, image_id)))


@router.patch(
    "/images/{image_id}",
    response_model=ImageOut,
    summary="Update caption, labels, metadata or public",
    openapi_extra={"requestBody": {"required": True, "content": json_body(ImagePatch)}},
    responses=error_responses(401, 403, 404, 422, 429),
)
async def update_image(
    image_id: str, request: Request, caller: Caller, db: Db, rt: Rt
) -> JSONResponse:
    workspace = caller.require("write")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("body", "Send a JSON object.")
    unknown = set(body) - {"caption", "labels", "metadata", "public"}
    if unknown:
        raise invalid(
            sorted(unknown)[0],
            "Unknown field; caption, labels, metadata and public can be changed.",
        )
    changes: dict[str, Any] = {}
    if "caption" in body:
        changes["caption"] = parse.parse_caption(body["caption"])
    # null clears; any other value must be an object (false, 0, "" or [] are 422, not a wipe)
    if "labels" in body:
        changes["labels"] = {} if body["labels"] is None else parse.parse_labels(body["labels"])
    if "metadata" in body:
        metadata = body["metadata"]
        changes["metadata"] = {} if metadata is None else parse.parse_metadata(metadata)
    if "public" in body:
        if not isinstance(body["public"], bool):
            raise invalid("public", "public must be true or false.")
        changes["public"] = body["public"]
    image = await images.update(db, caller, workspace, image_id, changes)
    return JSONResponse(image_object(rt.settings, image))


@router.delete(
    "/images/{image_id}",
    response_model=Deleted,
    summary="Delete one image",
    responses=error_responses(401, 403, 404, 429),
)
async def delete_image(image_id: str, caller: Caller, db: Db, rt: Rt) -> JSONResponse:
    workspace = caller.require("write")
    await images.remove(db, rt, workspace, image_id)
    return JSONResponse({"id": image_id, "object": "image", "deleted": True})


@router.get(
    "/usage",
    response_model=Usage,
    summary="Plan, usage and limits of the caller's workspace",
    responses=error_responses(401, 403, 429),
    tags=["usage"],
)
async def get_usage(caller: Caller, db: Db, rt: Rt) -> JSONResponse:
    workspace = caller.require("read")
    return JSONResponse(await images.usage(db, rt, workspace))
