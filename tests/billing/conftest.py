"""A second imgpro per database with the Stripe provider, pointed at the fake Stripe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.billing.fake_stripe import FakeStripe, FakeStripeServer
from tests.conftest import Stack, own_postgres_backends, start_stack

SECRET_KEY = "sk_test_imgpro_fake_0123456789"
WEBHOOK_SECRET = "whsec_imgpro_fake_0123456789"


@dataclass
class StripeStack:
    stack: Stack
    fake: FakeStripe


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stripe_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StripeStack]:
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides = own_postgres_backends("stripe", redis_offset=1)
    fake = FakeStripe(SECRET_KEY, WEBHOOK_SECRET)
    with FakeStripeServer(fake):
        running, server = start_stack(
            f"stripe-{request.param}",
            tmp_path_factory.mktemp("stripe"),
            billing_provider="stripe",
            stripe_secret_key=SECRET_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake.url,
            **overrides,
        )
        fake.webhook_url = f"{running.settings.api_url}/v1/billing/webhooks/stripe"
        try:
            yield StripeStack(running, fake)
        finally:
            running.close()
            server.stop()
