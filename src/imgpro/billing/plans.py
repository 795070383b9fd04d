"""The plan catalogue (decisions.md §3 defaults) and billing periods — pure data and functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

GIB = 1024**3


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_cents: int | None
    annual_cents: int | None
    monthly_uploads: int
    storage_bytes: int

    @property
    def is_paid(self) -> bool:
        return self.monthly_cents is not None


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan("free", "Free", None, None, 100, 1 * GIB),
    Plan("pro", "Pro", 900, 9900, 1_000, 10 * GIB),
    Plan("scale", "Scale", 2900, 29000, 10_000, 100 * GIB),
    Plan("max", "Max", 9900, 99000, 100_000, 1024 * GIB),
)
PLANS: dict[str, Plan] = {plan.id: plan for plan in DEFAULT_PLANS}


def get_plan(plan_id: str) -> Plan:
    return PLANS.get(plan_id, PLANS["free"])


def month_period(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) containing `now`: [start, end)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end
