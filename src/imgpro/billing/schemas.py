"""The real shapes of /v1/billing: request models parse the bodies (the API's and the billing
page's forms alike), response models build the answers, and both are what /openapi.json
documents."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imgpro.billing.plans import Interval, Plan
from imgpro.images.schemas import Usage


class Price(BaseModel):
    amount_cents: int
    currency: str


class PlanLimits(BaseModel):
    monthly_uploads: int
    storage_bytes: int
    images: int | None = Field(description="Most images stored at once; null = no such limit.")


class PlanOut(BaseModel):
    object: Literal["plan"] = "plan"
    id: str
    name: str
    prices: dict[Interval, Price]
    limits: PlanLimits

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        """The plan object of `available_plans`."""
        return cls(
            id=plan.id,
            name=plan.name,
            prices={
                interval: Price(amount_cents=price.amount_cents, currency=price.currency)
                for interval, price in plan.prices.items()
            },
            limits=PlanLimits(
                monthly_uploads=plan.monthly_uploads,
                storage_bytes=plan.storage_bytes,
                images=plan.images,
            ),
        )


class BillingStatus(BaseModel):
    object: Literal["billing_status"] = "billing_status"
    plan: str
    manage_url: str = Field(description="The img.pro billing page for this workspace; opaque.")
    usage: Usage
    available_plans: list[PlanOut]


MAX_RETURN_URL = 2048
# a part of what check_return_url accepts, written so any URL matching it is accepted
# (tests/billing/test_schemas.py): the port is a number up to 65535
_PORT = r"([0-5]?[0-9]{0,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
RETURN_URL_PATTERN = rf"^https?://[A-Za-z0-9._~%!$&'()*+,;=-]+(:{_PORT})?([/?#][!-~]*)?$"


class PlanChoice(BaseModel):
    """A paid plan and its billing period: what a checkout buys and a plan change moves to.
    Whether this server sells that plan for that period is the service's question
    (`billing.service.paid_plan`): the catalogue is the operator's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    plan: str = Field(
        description="A paid plan id from available_plans; /openapi.json lists this server's."
    )
    interval: Interval


class CheckoutBody(PlanChoice):
    """JSON body of POST /v1/billing/checkout, as documented."""

    return_url: str = Field(
        description="Absolute http(s) URL the browser returns to.",
        max_length=MAX_RETURN_URL,
        pattern=RETURN_URL_PATTERN,
    )


class CheckoutIn(PlanChoice):
    """What parses that body: as documented, except that return_url is any string or
    nothing here and `billing.service.check_return_url` judges it, so a missing, null or bad
    return_url answers invalid_target_url (as img.pro does), never validation_error. Every URL
    the documented pattern allows passes that rule, so a body valid by the document is
    accepted."""

    return_url: str | None = None


class CheckoutOut(BaseModel):
    checkout_url: str


class WebhookReceived(BaseModel):
    received: bool
    outcome: str
