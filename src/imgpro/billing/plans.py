"""The plan catalogue and billing periods — pure data and functions.

The defaults are decisions.md §3. An operator replaces the whole catalogue with a JSON or TOML
file (`IMGPRO_PLANS_FILE`): a `plans` list whose entries are shaped like the API's
`available_plans` (limits may also sit under `limits`, as the API shows them)::

    [[plans]]
    id = "pro"
    name = "Pro"
    monthly_uploads = 1000
    storage_bytes = 10737418240
    prices.monthly = { amount_cents = 900, currency = "usd", stripe_price = "price_..." }
    prices.annual = { amount_cents = 9900, currency = "usd" }
    images = 50000          # optional: most images stored at once; left out = unlimited

A plan without prices is free; exactly one free plan, with the id `free`, must exist (new
workspaces start on it, cancelled ones return to it). `stripe_price` is optional: without it
Stripe Checkout is given the amount inline.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from imgpro.settings import Settings
from imgpro.units import GB

Interval = Literal["monthly", "annual"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)
FREE = "free"
_PLAN_ID = r"^[a-z][a-z0-9_-]{0,15}$"
_PLAN_ID_RE = re.compile(_PLAN_ID)
_CURRENCY = r"^[a-z]{3}$"
_LIMITS = ("monthly_uploads", "storage_bytes", "images")


class PlanFileError(ValueError):
    """The operator's plans file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Price:
    amount_cents: int
    currency: str = "usd"
    stripe_price: str | None = None


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_uploads: int
    storage_bytes: int
    prices: dict[str, Price] = field(default_factory=dict)  # interval -> price
    images: int | None = None  # most images stored at once; None = no such limit

    @property
    def is_paid(self) -> bool:
        return bool(self.prices)

    @property
    def monthly_cents(self) -> int | None:
        price = self.prices.get("monthly")
        return price.amount_cents if price else None

    @property
    def annual_cents(self) -> int | None:
        price = self.prices.get("annual")
        return price.amount_cents if price else None


def _priced(monthly: int, annual: int) -> dict[str, Price]:
    return {"monthly": Price(monthly), "annual": Price(annual)}


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan(FREE, "Free", 100, 1 * GB),
    Plan("pro", "Pro", 1_000, 10 * GB, _priced(900, 9900)),
    Plan("scale", "Scale", 10_000, 100 * GB, _priced(2900, 29000)),
    Plan("max", "Max", 100_000, 1024 * GB, _priced(9900, 99000)),
)


@dataclass(frozen=True)
class Catalogue:
    plans: tuple[Plan, ...]

    def __post_init__(self) -> None:
        ids = [plan.id for plan in self.plans]
        if len(set(ids)) != len(ids):
            raise PlanFileError("plan ids must be unique")
        free = [plan for plan in self.plans if not plan.is_paid]
        if [plan.id for plan in free] != [FREE]:
            raise PlanFileError('exactly one plan has no prices, and its id is "free"')

    def find(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)

    def get(self, plan_id: str) -> Plan:
        """The plan a workspace is on; one the operator has since removed counts as free."""
        return self.find(plan_id) or self.free

    @property
    def free(self) -> Plan:
        return next(plan for plan in self.plans if plan.id == FREE)

    @property
    def paid(self) -> list[Plan]:
        return [plan for plan in self.plans if plan.is_paid]

    def upgrade_for(
        self, current: Plan, *, uploads: bool, storage: bool, images: bool = False
    ) -> Plan | None:
        """The smallest paid plan that lifts the limit that was hit, or None on the top tier."""
        better = [
            plan
            for plan in self.paid
            if (not uploads or plan.monthly_uploads > current.monthly_uploads)
            and (not storage or plan.storage_bytes > current.storage_bytes)
            and (not images or _more_images(plan, current))
            and plan.id != current.id
        ]
        return min(better, key=lambda p: (p.monthly_uploads, p.storage_bytes), default=None)

    def by_stripe_price(self, price_id: str) -> tuple[Plan, str] | None:
        for plan in self.plans:
            for interval, price in plan.prices.items():
                if price.stripe_price == price_id:
                    return plan, interval
        return None


def _more_images(plan: Plan, than: Plan) -> bool:
    if plan.images is None:
        return than.images is not None
    return than.images is not None and plan.images > than.images


DEFAULT_CATALOGUE = Catalogue(DEFAULT_PLANS)


_Count = Annotated[StrictInt, Field(ge=0)]


class _PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: Annotated[StrictInt, Field(gt=0)]
    currency: Annotated[str, StringConstraints(pattern=_CURRENCY)] = "usd"
    stripe_price: StrictStr | None = None


class _LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_uploads: _Count | None = None
    storage_bytes: _Count | None = None
    images: _Count | None = None


class _PlanIn(BaseModel):
    """One entry of the plans file, shaped like an `available_plans` item."""

    model_config = ConfigDict(extra="forbid")

    object: Literal["plan"] = "plan"
    id: Annotated[StrictStr, StringConstraints(pattern=_PLAN_ID)]
    name: Annotated[
        StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    prices: dict[Interval, _PriceIn] | None = None
    limits: _LimitsIn | None = None
    monthly_uploads: _Count
    storage_bytes: _Count
    images: _Count | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_limits(cls, data: Any) -> Any:
        """Limits may sit under `limits`, as the API shows them; they count as top-level."""
        limits = data.get("limits") if isinstance(data, dict) else None
        if isinstance(limits, dict):
            return {**data, **{name: limits[name] for name in _LIMITS if name in limits}}
        return data

    def plan(self) -> Plan:
        prices = sorted((self.prices or {}).items(), key=lambda item: INTERVALS.index(item[0]))
        return Plan(
            self.id,
            self.name,
            self.monthly_uploads,
            self.storage_bytes,
            {
                interval: Price(price.amount_cents, price.currency, price.stripe_price)
                for interval, price in prices  # in INTERVALS order, whatever the file's
            },
            self.images,
        )


class _PlansFileIn(BaseModel):
    plans: Annotated[list[_PlanIn], Field(min_length=1)]


def _problem(error: ErrorDetails) -> str:
    """The operator-facing sentence for the first thing pydantic refused."""
    loc = [str(part) for part in error["loc"]]
    if len(loc) <= 1:
        return 'the file needs a non-empty "plans" list'
    field = loc[-1]
    if len(loc) == 2:
        return "each plan is a table/object"
    if loc[2] == "prices" and len(loc) >= 4 and field != "[key]":
        interval = loc[3]  # loc is plans, n, prices, interval[, field]
        if len(loc) == 5 and field == "amount_cents":
            if error["input"] == 0:
                return "a price is above 0; leave prices out for free"
            return f"prices.{interval}: amount_cents must be a whole number ≥ 0"
        if len(loc) == 5 and field in ("currency", "stripe_price"):
            return {
                "currency": f"prices.{interval}.currency is like usd",
                "stripe_price": f"prices.{interval}.stripe_price is a Stripe price id",
            }[field]
        return f"prices.{interval} has amount_cents, currency, stripe_price"
    if loc[2] == "prices":
        return "prices has only monthly and annual"
    if loc[2] == "limits" and len(loc) == 4 and error["type"] != "extra_forbidden":
        return f"{field} must be a whole number ≥ 0"
    if loc[2] == "limits":
        return "limits has monthly_uploads, storage_bytes and images"
    if error["type"] == "extra_forbidden":
        return f"unknown field {field!r}"
    return {
        "object": 'object, when given, is "plan"',
        "id": "id must be 1–16 lowercase letters, digits, - or _",
        "name": "name must be 1–64 characters",
    }.get(field, f"{field} must be a whole number ≥ 0")


def _where(data: Any, error: ErrorDetails) -> str:
    """Which plan: by its id once that is valid, else by its position."""
    loc = error["loc"]
    if len(loc) < 2 or not isinstance(loc[1], int):
        return ""
    entry = data["plans"][loc[1]]
    plan_id = entry.get("id") if isinstance(entry, dict) else None
    if loc[2:3] != ("id",) and isinstance(plan_id, str) and _PLAN_ID_RE.match(plan_id):
        return f"plan {plan_id!r}: "
    return f"plan #{loc[1] + 1}: "


def parse_catalogue(data: Any) -> Catalogue:
    """A catalogue from the decoded plans file, or PlanFileError saying what is wrong."""
    try:
        parsed = _PlansFileIn.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PlanFileError(_where(data, error) + _problem(error)) from None
    return Catalogue(tuple(entry.plan() for entry in parsed.plans))


def load_catalogue(path: Path) -> Catalogue:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise PlanFileError(f"{path}: not valid {path.suffix[1:] or 'JSON'}: {exc}") from None
    try:
        return parse_catalogue(data)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from None


@lru_cache(maxsize=8)
def _cached(path: str, _mtime: float) -> Catalogue:
    return load_catalogue(Path(path))


def catalogue_for(plans_file: Path | None) -> Catalogue:
    """The catalogue in force: the operator's file (re-read when it changes) or the defaults."""
    if plans_file is None:
        return DEFAULT_CATALOGUE
    try:
        mtime = plans_file.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _cached(str(plans_file), mtime)


def catalogue(settings: Settings) -> Catalogue:
    return catalogue_for(settings.plans_file)


def month_period(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) containing `now`: [start, end)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def period_key(now: datetime) -> str:
    """The month an upload counts in, as stored beside the counter: "2026-11"."""
    return now.astimezone(UTC).strftime("%Y-%m")


def add_interval(start: datetime, interval: str) -> datetime:
    """One billing interval after `start` (a month, or a year), clamped to the month's end."""
    months = 12 if interval == "annual" else 1
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = start.day
    while True:
        try:
            return start.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def price_label(price: Price) -> str:
    """ "$9" or "$9.50" (and "9 EUR" for other currencies)."""
    amount = price.amount_cents / 100
    text = f"{amount:,.0f}" if price.amount_cents % 100 == 0 else f"{amount:,.2f}"
    return f"${text}" if price.currency == "usd" else f"{text} {price.currency.upper()}"
