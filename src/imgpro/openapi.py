"""OpenAPI helpers: the error envelope schema and request bodies routes parse themselves."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, JsonValue

from imgpro.errors import CATALOGUE


class ErrorAction(BaseModel):
    type: str
    url: str | None = None
    label: str | None = None
    retry_after: int | None = None


class ErrorBody(BaseModel):
    type: str
    code: str = Field(json_schema_extra={"enum": list[JsonValue](sorted(CATALOGUE))})
    message: str
    action: ErrorAction | None = None
    usage: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document `statuses` (and 500) with the envelope and the codes each can carry."""
    result: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 500):
        codes = sorted(code for code, kind in CATALOGUE.items() if status in kind.statuses)
        result[status] = {
            "model": ErrorEnvelope,
            "description": "Error envelope; error.code is one of: " + ", ".join(codes),
        }
    return result


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": model.model_json_schema()}}


def multipart_body() -> dict[str, Any]:
    return {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "caption": {"type": "string", "maxLength": 2000},
                    "public": {"type": "string", "enum": ["true", "false"]},
                    "labels": {"type": "string", "description": "JSON object of string labels"},
                    "metadata": {"type": "string", "description": "JSON object"},
                },
            }
        }
    }
