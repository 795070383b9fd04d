"""Payment providers behind one interface (thumbor-style: one swappable concern per folder).

`local` moves no money: its checkout is a page of ours marked as a test. `stripe` uses the
official SDK: Checkout Sessions in subscription mode and the Billing Portal; plan changes come
back only through verified webhooks (billing/webhooks.py)."""

from __future__ import annotations

from imgpro.billing.providers.base import CheckoutContext, Provider
from imgpro.billing.providers.local import LocalProvider
from imgpro.settings import Settings

__all__ = ["CheckoutContext", "Provider", "provider_for"]


def provider_for(settings: Settings) -> Provider:
    if settings.billing_provider == "stripe":
        # the Stripe SDK (8 MB in every server process) only where Stripe is configured
        from imgpro.billing.providers.stripe import StripeProvider

        return StripeProvider(settings)
    return LocalProvider(settings)
