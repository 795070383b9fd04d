"""What /openapi.json says beyond the models: the error envelope, the codes each operation can
return, an example answer per operation, the Idempotency-Key header and the request bodies that
routes read themselves.

Routes declare their answers with :func:`responses` (the success example and the exact error
codes), so the document lists only what each operation can return; tests/contract.py checks
every answer the suite receives against it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from imgpro.errors import CATALOGUE, ErrorCode


class ErrorAction(BaseModel):
    type: str
    url: str | None = None
    label: str | None = None
    retry_after: int | None = None


class ErrorBody(BaseModel):
    type: str
    code: ErrorCode
    message: str
    action: ErrorAction | None = None
    usage: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# what every authenticated data call can answer before its own work starts:
# bad credential, suspended app, missing X-Img-User, user not acting-on-able, lacking ability
CALLER_ERRORS: tuple[ErrorCode, ...] = (
    "unauthorized",
    "forbidden",
    "app_suspended",
    "user_forbidden",
    "validation_error",
    "rate_limited",
)


def responses(
    status: int, example: dict[str, Any], *codes: ErrorCode
) -> dict[int | str, dict[str, Any]]:
    """The success answer's example plus the envelope for exactly `codes`, api_error, and
    service_unavailable (any call answers 503 while a backend it needs is down, §6)."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {"content": {"application/json": {"example": example}}}
    }
    by_status: dict[int, list[ErrorCode]] = defaultdict(list)
    for code in dict.fromkeys((*codes, "api_error", "service_unavailable")):
        for code_status in CATALOGUE[code].statuses:
            by_status[code_status].append(code)
    for error_status, listed in sorted(by_status.items()):
        first = CATALOGUE[listed[0]]  # the example shows the first code of this status
        documented[error_status] = {
            "model": ErrorEnvelope,
            "description": "Error envelope; error.code is one of: " + ", ".join(listed),
            "content": {
                "application/json": {
                    # narrows the envelope's code to the ones this status can carry here
                    "schema": {"properties": {"error": {"properties": {"code": {"enum": listed}}}}},
                    "example": {
                        "error": {"type": first.type, "code": listed[0], "message": first.message}
                    },
                }
            },
        }
    return documented


_BODIES: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON request body a route parses with `model`; its schema goes to the components."""
    _BODIES[model.__name__] = model
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def complete(document: dict[str, Any], paid_plans: list[str]) -> dict[str, Any]:
    """Add what FastAPI leaves out: the request body models (routes read bodies themselves,
    after auth) and the parts only this instance knows: the paid plans of its catalogue (a
    plans file may change them), so a checkout body valid by the document is accepted."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _BODIES.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas["CheckoutBody"]["properties"]["plan"]["enum"] = paid_plans
    return document
