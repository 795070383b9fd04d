"""HTTP for `POST /v1/auth/exchange`: the app's backend trades a callback code for the user."""

from __future__ import annotations

from fastapi import APIRouter, Request

from imgpro.apps import service as apps
from imgpro.apps.schemas import AuthContext, ExchangeBody
from imgpro.deps import CallingApp, Db
from imgpro.http import parse_as, read_json
from imgpro.openapi import json_body, responses

router = APIRouter(prefix="/v1", tags=["apps"])


@router.post(
    "/auth/exchange",
    response_model=AuthContext,
    summary="Exchange a hosted-login code for the signed-in user (machine secret only)",
    openapi_extra={"requestBody": {"required": True, "content": json_body(ExchangeBody)}},
    responses=responses(
        200,
        {
            "object": "auth_context",
            "app": {"id": "a1b2c3d4", "object": "app", "name": "Pixel Notes"},
            "user": {
                "id": "u9v8w7x6",
                "object": "user",
                "email": "jane@example.com",
                "verified": True,
            },
        },
        "unauthorized",
        "app_suspended",
        "validation_error",
        "invalid_code",
        "rate_limited",
    ),
)
async def exchange(request: Request, app: CallingApp, db: Db) -> AuthContext:
    """Trade the `code` from the hosted-login callback for the user who signed in (single use,
    about 60 s, bound to this app). Call it from the app's backend with its machine secret."""
    body = parse_as(ExchangeBody, await read_json(request))
    return AuthContext.of(app, await apps.exchange(db, app, body.code, body.code_verifier))
