"""What every payment provider offers: the checkout context in, a payment page out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from imgpro.billing.plans import Plan
from imgpro.billing.tables import Checkout


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
