"""The `stripe` provider, with the official SDK: Checkout Session (subscription mode) to start,
Billing Portal to manage. `IMGPRO_STRIPE_API_BASE` points the SDK at a local fake in tests."""

from __future__ import annotations

from typing import Any

import stripe

from imgpro.billing.providers.base import CheckoutContext
from imgpro.errors import ApiError
from imgpro.logs import log
from imgpro.settings import Settings

STRIPE_INTERVALS = {"monthly": "month", "annual": "year"}


class _HttpxClient(stripe.HTTPXClient):
    """The SDK's httpx adapter, sending the encoded form as `content=`: its `data=` with a
    ready-encoded body is deprecated by httpx (and the test suite turns warnings into errors)."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        body = kwargs.pop("data", None)
        if body:
            kwargs["content"] = body
        return args, kwargs


class StripeProvider:
    name = "stripe"
    manages_in_portal = True

    def __init__(self, settings: Settings) -> None:
        if not settings.stripe_secret_key:
            raise ApiError("service_unavailable", "Billing is not configured on this server.")
        self.settings = settings

    def _client(self) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
        http = _HttpxClient(timeout=30)
        base = self.settings.stripe_api_base
        client = stripe.StripeClient(
            self.settings.stripe_secret_key,
            http_client=http,
            max_network_retries=2,
            **({"base_addresses": {"api": base}} if base else {}),  # type: ignore[arg-type]
        )
        return client, http

    async def _call(self, what: str, request: Any) -> Any:
        client, http = self._client()
        try:
            return await request(client)
        except stripe.StripeError as exc:
            log.warning("stripe_failed", call=what, error=str(exc), status=exc.http_status)
            raise ApiError(
                "service_unavailable",
                "The payment provider could not be reached; try again shortly.",
                headers={"Retry-After": "5"},
            ) from None
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]  # stripe's is untyped

    async def start_checkout(self, context: CheckoutContext) -> str:
        checkout, plan = context.checkout, context.plan
        price = plan.prices[checkout.interval]
        if price.stripe_price:
            line_item: dict[str, Any] = {"price": price.stripe_price, "quantity": 1}
        else:
            line_item = {
                "price_data": {
                    "currency": price.currency,
                    "unit_amount": price.amount_cents,
                    "recurring": {"interval": STRIPE_INTERVALS[checkout.interval]},
                    "product_data": {"name": f"img.pro {plan.name}"},
                },
                "quantity": 1,
            }
        metadata = {
            "workspace_id": checkout.workspace_id,
            "plan": plan.id,
            "interval": checkout.interval,
            "checkout_id": checkout.id,
        }
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [line_item],
            "success_url": checkout.return_url,
            "cancel_url": checkout.return_url,
            "client_reference_id": checkout.workspace_id,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
        if context.customer_id:
            params["customer"] = context.customer_id
        elif context.email:
            params["customer_email"] = context.email
        session = await self._call(
            "checkout.sessions.create",
            lambda client: client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": f"imgpro-checkout-{checkout.id}"}
            ),
        )
        checkout.provider_session_id = session.id
        return str(session.url)

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        session = await self._call(
            "billing_portal.sessions.create",
            lambda client: client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url}
            ),
        )
        return str(session.url)
