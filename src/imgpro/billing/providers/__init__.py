"""Payment providers behind one interface (thumbor-style: one swappable concern per folder).

`local` moves no money: its checkout is a page of ours marked as a test. `stripe` uses the
official SDK: Checkout Sessions in subscription mode and the Billing Portal; plan changes come
back only through verified webhooks (billing/webhooks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from imgpro.billing.plans import Plan
from imgpro.billing.tables import Checkout
from imgpro.settings import Settings


@dataclass(frozen=True)
class CheckoutContext:
    """What a provider needs to start a checkout for one workspace."""

    checkout: Checkout
    plan: Plan
    email: str | None  # the account's email, to prefill the payment form
    customer_id: str | None  # the provider's customer from an earlier subscription


class Provider(Protocol):
    name: str
    # True: plan changes and cancellation happen on the provider's portal, not on our page
    manages_in_portal: bool

    async def start_checkout(self, context: CheckoutContext) -> str:
        """Prepare the payment page; return its URL (the API's `checkout_url`)."""

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        """A one-time link to the provider's self-service portal for this customer."""


def provider_for(settings: Settings) -> Provider:
    if settings.billing_provider == "stripe":
        from imgpro.billing.providers.stripe import StripeProvider

        return StripeProvider(settings)
    from imgpro.billing.providers.local import LocalProvider

    return LocalProvider(settings)
