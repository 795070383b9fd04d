"""HTTP for `POST /v1/auth/exchange`: the app's backend trades a callback code for the user."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from imgpro.apps import service as apps
from imgpro.auth import bearer_token
from imgpro.deps import Db, Rt
from imgpro.errors import ApiError
from imgpro.http import read_json
from imgpro.openapi import error_responses, json_body

router = APIRouter(prefix="/v1", tags=["apps"])


class ExchangeBody(BaseModel):
    code: str
    code_verifier: str | None = None


class AppRef(BaseModel):
    id: str
    object: str = "app"
    name: str


class UserRef(BaseModel):
    id: str
    object: str = "user"
    email: str
    verified: bool


class AuthContext(BaseModel):
    object: str = "auth_context"
    app: AppRef
    user: UserRef


@router.post(
    "/auth/exchange",
    response_model=AuthContext,
    summary="Exchange a hosted-login code for the signed-in user (machine secret only)",
    openapi_extra={"requestBody": {"required": True, "content": json_body(ExchangeBody)}},
    responses=error_responses(401, 403, 422, 429),
)
async def exchange(request: Request, db: Db, rt: Rt) -> JSONResponse:
    secret = bearer_token(request)
    if secret is None or not secret.startswith(apps.SECRET_PREFIX):
        raise ApiError("unauthorized", "Send the app's machine secret: Bearer img_sk_live_...")
    app = await apps.authenticate_app(db, secret)
    await rt.limits.hit(f"{rt.settings.credential_requests_per_minute}/minute", f"app:{app.id}")
    code, verifier = apps.parse_exchange_body(await read_json(request))
    return JSONResponse(await apps.exchange(db, app, code, verifier))
