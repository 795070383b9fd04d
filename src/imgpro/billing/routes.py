"""HTTP for /v1/billing: status and checkout (app mode: machine secret + X-Img-User, or an API
key for its personal workspace) and the Stripe webhook endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from imgpro.billing import service as billing
from imgpro.billing import webhooks
from imgpro.billing.schemas import (
    BillingStatus,
    CheckoutBody,
    CheckoutIn,
    CheckoutOut,
    WebhookReceived,
)
from imgpro.deps import Caller, Db, IdempotencyKey, Rt
from imgpro.http import parse_as, read_json
from imgpro.idempotency import service as idempotency
from imgpro.idempotency.answer import answer_once
from imgpro.images.routes import USAGE_EXAMPLE
from imgpro.openapi import CALLER_ERRORS, json_body, responses

router = APIRouter(prefix="/v1/billing", tags=["billing"])


STATUS_EXAMPLE = {
    "object": "billing_status",
    "plan": "free",
    "manage_url": "https://img.pro/billing?workspace=w1a2b3c4",
    "usage": USAGE_EXAMPLE,
    "available_plans": [
        {
            "object": "plan",
            "id": "pro",
            "name": "Pro",
            "prices": {
                "monthly": {"amount_cents": 900, "currency": "usd"},
                "annual": {"amount_cents": 9000, "currency": "usd"},
            },
            "limits": {"monthly_uploads": 5000, "storage_bytes": 53687091200, "images": 50000},
        }
    ],
}


@router.get(
    "/status",
    response_model=BillingStatus,
    summary="Plan, usage, the plans on offer and the billing page link of the user's workspace",
    responses=responses(200, STATUS_EXAMPLE, *CALLER_ERRORS),
)
async def get_status(caller: Caller, db: Db, rt: Rt) -> BillingStatus:
    """The workspace's plan and usage, the paid plans it can move to, and `manage_url`: the
    billing page where the user changes, cancels or pays (open it in the browser)."""
    workspace = caller.require("read")
    return await billing.status(db, rt.settings, workspace)


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutOut,
    summary="Start a checkout for a free workspace's first paid plan",
    openapi_extra={"requestBody": {"required": True, "content": json_body(CheckoutBody)}},
    responses=responses(
        201,
        {"checkout_url": "https://img.pro/billing/checkout/c0ffee42"},
        *CALLER_ERRORS,
        "invalid_target_url",
        "already_subscribed",
        "idempotency_key_conflict",
        "idempotency_key_in_progress",
        "service_unavailable",
    ),
)
async def create_checkout(
    request: Request, caller: Caller, db: Db, rt: Rt, idempotency_key: IdempotencyKey = None
) -> Response:
    """A checkout URL for the user to open: paying there moves the workspace to the plan
    (through the provider's webhook). A workspace already on a paid plan uses manage_url."""
    workspace = caller.require("write")
    body = parse_as(CheckoutIn, await read_json(request))
    checkout = billing.checkout_request(rt.settings, body)
    if caller.app_id is not None:
        await billing.check_app_return_url(db, caller.app_id, checkout.return_url)

    async def answer() -> CheckoutOut:
        url = await billing.start_checkout(db, rt.settings, workspace, checkout)
        return CheckoutOut(checkout_url=url)

    request_hash = idempotency.fingerprint("billing.checkout", checkout.fingerprint())
    return await answer_once(rt.sessions, caller.scope, idempotency_key, request_hash, 201, answer)


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
    responses=responses(200, {"received": True, "outcome": "applied"}, "bad_request", "not_found"),
)
async def stripe_webhook(request: Request, db: Db, rt: Rt) -> WebhookReceived:
    """Where Stripe sends subscription events; each verified event is applied once, in order.
    `not_found` when this server does not use Stripe."""
    event = webhooks.verify(
        rt.settings, await request.body(), request.headers.get("stripe-signature")
    )
    outcome = await webhooks.process(db, rt.settings, event)
    return WebhookReceived(received=True, outcome=outcome)
