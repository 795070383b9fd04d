"""HTTP for /v1/billing: status and checkout (app mode: machine secret + X-Img-User, or an API
key for its personal workspace) and the Stripe webhook endpoint."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from imgpro.billing import service as billing
from imgpro.billing import webhooks
from imgpro.billing.schemas import BillingStatus, CheckoutBody, CheckoutOut, WebhookReceived
from imgpro.deps import Caller, Db, Rt
from imgpro.http import read_json
from imgpro.idempotency import service as idempotency
from imgpro.openapi import error_responses, json_body

router = APIRouter(prefix="/v1/billing", tags=["billing"])


@router.get(
    "/status",
    response_model=BillingStatus,
    summary="Plan, usage, the plans on offer and the billing page link of the user's workspace",
    responses=error_responses(401, 403, 422, 429),
)
async def get_status(caller: Caller, db: Db, rt: Rt) -> JSONResponse:
    workspace = caller.require("read")
    return JSONResponse(await billing.status(db, rt.settings, workspace))


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutOut,
    summary="Start a checkout for a free workspace's first paid plan",
    openapi_extra={
        "requestBody": {"required": True, "content": json_body(CheckoutBody)},
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
            }
        ],
    },
    responses=error_responses(401, 403, 409, 422, 429, 503),
)
async def create_checkout(request: Request, caller: Caller, db: Db, rt: Rt) -> Response:
    workspace = caller.require("write")
    key = request.headers.get("idempotency-key")
    if key is not None:
        idempotency.check_key(key)
    checkout = billing.parse_checkout(rt.settings, await read_json(request))
    if caller.app_id is not None:
        await billing.check_app_return_url(db, caller.app_id, checkout.return_url)

    async def respond() -> tuple[int, str]:
        url = await billing.start_checkout(db, rt.settings, workspace, checkout)
        return 201, json.dumps({"checkout_url": url})

    if key is None:
        status, body = await respond()
    else:
        status, body = await idempotency.run_once(
            rt.sessions,
            caller.scope,
            key,
            idempotency.fingerprint("billing.checkout", checkout.fingerprint()),
            respond,
        )
    return Response(body, status_code=status, media_type="application/json")


@router.post(
    "/webhooks/stripe",
    response_model=WebhookReceived,
    summary="Stripe webhook endpoint (verified with the webhook signing secret)",
    openapi_extra={
        "parameters": [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
    responses=error_responses(400, 404),
)
async def stripe_webhook(request: Request, db: Db, rt: Rt) -> JSONResponse:
    event = webhooks.verify(
        rt.settings, await request.body(), request.headers.get("stripe-signature")
    )
    outcome = await webhooks.process(db, rt.settings, event)
    return JSONResponse({"received": True, "outcome": outcome})
