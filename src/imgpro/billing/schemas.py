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


class CheckoutBody(BaseModel):
    plan: str = Field(description="A paid plan id from available_plans (pro, scale, max).")
    interval: Literal["monthly", "annual"]
    return_url: str = Field(description="Absolute http(s) URL the browser returns to.")


class CheckoutOut(BaseModel):
    checkout_url: str


class WebhookReceived(BaseModel):
    received: bool
    outcome: str
