"""Request and response shapes of the billing API (for the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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
    prices: dict[Literal["monthly", "annual"], Price]
    limits: PlanLimits


class BillingStatus(BaseModel):
    object: Literal["billing_status"] = "billing_status"
    plan: str
    manage_url: str = Field(description="The img.pro billing page for this workspace; opaque.")
    usage: Usage
    available_plans: list[PlanOut]


MAX_RETURN_URL = 2048
# what check_return_url accepts, written so any URL matching it is accepted
RETURN_URL_PATTERN = r"^https?://[A-Za-z0-9._~%!$&'()*+,;=-]+(:[0-9]{0,5})?([/?#][!-~]*)?$"


class CheckoutBody(BaseModel):
    plan: str = Field(
        description="A paid plan id from available_plans; /openapi.json lists this server's."
    )
    interval: Literal["monthly", "annual"]
    return_url: str = Field(
        description="Absolute http(s) URL the browser returns to.",
        max_length=MAX_RETURN_URL,
        pattern=RETURN_URL_PATTERN,
    )


class CheckoutOut(BaseModel):
    checkout_url: str


class WebhookReceived(BaseModel):
    received: bool
    outcome: str
