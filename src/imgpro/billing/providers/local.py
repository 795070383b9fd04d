"""The `local` provider: a test checkout page of ours (Pay / Cancel), no money moves.

The checkout URL carries a random token, stored only as a hash: like a Stripe Checkout URL it is
the page's only credential, so paying does not need an img.pro session."""

from __future__ import annotations

from imgpro import tokens
from imgpro.billing.providers.base import CheckoutContext
from imgpro.errors import ApiError
from imgpro.settings import Settings


def token_hash(token: str) -> str:
    # a fast hash is right here: the token is 256 random bits, not a password
    return tokens.digest(token)


class LocalProvider:
    name = "local"
    manages_in_portal = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start_checkout(self, context: CheckoutContext) -> str:
        token = tokens.url_token()
        context.checkout.token_hash = token_hash(token)
        return f"{self.settings.web_url}/billing/checkout/{token}"

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        raise ApiError("not_found", "The local billing provider has no portal.")
