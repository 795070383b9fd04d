"""The plan catalogue (defaults and the operator's file), periods and signed links: pure."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpro.billing import links
from imgpro.billing.plans import (
    DEFAULT_CATALOGUE,
    PlanFileError,
    add_interval,
    catalogue_for,
    load_catalogue,
    month_period,
    parse_catalogue,
    period_key,
    price_label,
)
from imgpro.billing.schemas import PlanOut
from imgpro.units import GB

PLANS_TOML = """
[[plans]]
id = "free"
name = "Hobby"
monthly_uploads = 2
storage_bytes = 1000000

[[plans]]
id = "studio"
name = "Studio"
monthly_uploads = 50
storage_bytes = 5000000000
prices.monthly = { amount_cents = 1250, currency = "eur", stripe_price = "price_studio_m" }
"""


def test_the_defaults_are_decisions_md() -> None:
    rows = [
        (p.id, p.monthly_cents, p.annual_cents, p.monthly_uploads, p.storage_bytes)
        for p in DEFAULT_CATALOGUE.plans
    ]
    assert rows == [
        ("free", None, None, 100, GB),
        ("pro", 900, 9900, 1_000, 10 * GB),
        ("scale", 2900, 29000, 10_000, 100 * GB),
        ("max", 9900, 99000, 100_000, 1024 * GB),
    ]
    assert DEFAULT_CATALOGUE.get("gone") is DEFAULT_CATALOGUE.free


def test_an_operator_file_replaces_the_catalogue(tmp_path: Path) -> None:
    toml = tmp_path / "plans.toml"
    toml.write_text(PLANS_TOML)
    plans = load_catalogue(toml)
    assert [p.id for p in plans.plans] == ["free", "studio"]
    assert plans.free.name == "Hobby" and plans.paid[0].prices["monthly"].currency == "eur"
    assert plans.by_stripe_price("price_studio_m") == (plans.paid[0], "monthly")
    as_json = tmp_path / "plans.json"
    as_json.write_text(
        json.dumps({"plans": [PlanOut.of(p).model_dump() for p in DEFAULT_CATALOGUE.plans]})
    )
    assert load_catalogue(as_json) == DEFAULT_CATALOGUE  # the API's own shape reads back
    assert catalogue_for(None) is DEFAULT_CATALOGUE
    assert catalogue_for(toml).paid[0].id == "studio"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "non-empty"),
        ({"plans": []}, "non-empty"),
        (
            {"plans": [{"id": "pro", "name": "Pro", "monthly_uploads": 1, "storage_bytes": 1}]},
            "free",
        ),
        (
            {"plans": [{"id": "free", "name": "F", "monthly_uploads": -1, "storage_bytes": 1}]},
            "≥ 0",
        ),
        ({"plans": [{"id": "Free!", "name": "F", "monthly_uploads": 1, "storage_bytes": 1}]}, "id"),
        ({"plans": [{"id": "free", "name": "", "monthly_uploads": 1, "storage_bytes": 1}]}, "name"),
        (
            {
                "plans": [
                    {"id": "free", "name": "F", "monthly_uploads": 1, "storage_bytes": 1},
                    {"id": "free", "name": "G", "monthly_uploads": 1, "storage_bytes": 1},
                ]
            },
            "unique",
        ),
        (
            {
                "plans": [
                    {"id": "free", "name": "F", "monthly_uploads": 1, "storage_bytes": 1},
                    {
                        "id": "pro",
                        "name": "P",
                        "monthly_uploads": 1,
                        "storage_bytes": 1,
                        "prices": {"weekly": {"amount_cents": 1}},
                    },
                ]
            },
            "monthly and annual",
        ),
    ],
)
def test_a_broken_plans_file_says_what_is_wrong(data: object, problem: str) -> None:
    with pytest.raises(PlanFileError, match=problem):
        parse_catalogue(data)


def test_a_plan_may_limit_stored_images() -> None:
    plans = parse_catalogue(
        {
            "plans": [
                {
                    "id": "free",
                    "name": "Free",
                    "monthly_uploads": 9,
                    "storage_bytes": 9,
                    "images": 5,
                },
                {
                    "id": "pro",
                    "name": "Pro",
                    "limits": {"monthly_uploads": 9, "storage_bytes": 9, "images": 50},
                    "prices": {"monthly": {"amount_cents": 500}},
                },
                {
                    "id": "unlimited",
                    "name": "Unlimited",
                    "limits": {"monthly_uploads": 9, "storage_bytes": 9, "images": None},
                    "prices": {"monthly": {"amount_cents": 900}},
                },
            ]
        }
    )
    assert [p.images for p in plans.plans] == [5, 50, None]
    assert PlanOut.of(plans.get("pro")).limits.images == 50
    assert plans.upgrade_for(plans.free, uploads=False, storage=False, images=True).id == "pro"  # type: ignore[union-attr]
    top = plans.upgrade_for(plans.get("pro"), uploads=False, storage=False, images=True)
    assert top is not None and top.id == "unlimited"
    assert DEFAULT_CATALOGUE.free.images is None  # the default catalogue leaves it unlimited
    with pytest.raises(PlanFileError, match="images must be a whole number"):
        parse_catalogue(
            {
                "plans": [
                    {
                        "id": "free",
                        "name": "F",
                        "limits": {"monthly_uploads": 1, "storage_bytes": 1, "images": -1},
                    }
                ]
            }  # noqa: E501
        )


def test_unreadable_or_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="plans.json"):
        load_catalogue(tmp_path / "plans.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[plans]\n")
    with pytest.raises(PlanFileError, match="not valid toml"):
        load_catalogue(bad)


def test_upgrade_suggestions() -> None:
    plans = DEFAULT_CATALOGUE
    assert plans.upgrade_for(plans.free, uploads=True, storage=False).id == "pro"  # type: ignore[union-attr]
    assert plans.upgrade_for(plans.get("pro"), uploads=False, storage=True).id == "scale"  # type: ignore[union-attr]
    assert plans.upgrade_for(plans.get("max"), uploads=True, storage=False) is None


def test_periods() -> None:
    assert month_period(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_key(datetime(2026, 2, 3, tzinfo=UTC)) == "2026-02"
    assert add_interval(datetime(2026, 1, 31, tzinfo=UTC), "monthly") == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), "annual") == datetime(
        2029, 2, 28, tzinfo=UTC
    )
    assert price_label(DEFAULT_CATALOGUE.get("pro").prices["monthly"]) == "$9"


KEY = "k" * 32


def _token(target: links.UpgradeTarget, **kw: float) -> str:
    url = links.upgrade_url("https://img.example", KEY, target, **kw)  # type: ignore[arg-type]
    assert url.startswith("https://img.example/upgrade?t=")
    return parse_qs(urlsplit(url).query)["t"][0]


def test_an_upgrade_link_round_trips_and_expires() -> None:
    target = links.UpgradeTarget("abcd1234", "pro")
    assert links.read_upgrade_token(KEY, _token(target)) == target
    top = links.UpgradeTarget("abcd1234", None)
    assert links.read_upgrade_token(KEY, _token(top)) == top
    old = _token(target, now=time.time() - links.UPGRADE_LINK_TTL - 1)
    with pytest.raises(links.LinkRefused) as refused:
        links.read_upgrade_token(KEY, old)
    assert refused.value.expired
    with pytest.raises(links.LinkRefused) as refused:
        links.read_upgrade_token("another-key", _token(target))
    assert not refused.value.expired


@given(position=st.integers(min_value=0), char=st.sampled_from("AQgw-_09z"))
def test_any_changed_character_is_refused(position: int, char: str) -> None:
    token = _token(links.UpgradeTarget("abcd1234", "pro"))
    index = position % len(token)
    if token[index] == char:
        return
    changed = token[:index] + char + token[index + 1 :]
    try:
        target = links.read_upgrade_token(KEY, changed)
    except links.LinkRefused:
        return
    # base64 padding bits can absorb a change without changing the bytes: same target
    assert target == links.UpgradeTarget("abcd1234", "pro")


def _with_pro(**fields: object) -> dict[str, object]:
    free = {"id": "free", "name": "F", "monthly_uploads": 1, "storage_bytes": 1}
    pro = {"id": "pro", "name": "P", "monthly_uploads": 1, "storage_bytes": 1, **fields}
    return {"plans": [free, pro]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"plans": [1]}, "plan #1: each plan is a table/object"),
        (_with_pro(colour="red"), "plan 'pro': unknown field 'colour'"),
        (_with_pro(object="price"), "plan 'pro': object, when given, is \"plan\""),
        (_with_pro(limits={"seats": 1}), "plan 'pro': limits has monthly_uploads"),
        (_with_pro(prices={"monthly": 9}), "plan 'pro': prices.monthly has amount_cents"),
        (
            _with_pro(prices={"monthly": {"amount_cents": -5}}),
            "plan 'pro': prices.monthly: amount_cents must be a whole number ≥ 0",
        ),
        (
            _with_pro(prices={"annual": {"amount_cents": 5, "currency": "US$"}}),
            "plan 'pro': prices.annual.currency is like usd",
        ),
        (
            _with_pro(prices={"monthly": {"amount_cents": 5, "stripe_price": 7}}),
            "plan 'pro': prices.monthly.stripe_price is a Stripe price id",
        ),
        (
            _with_pro(prices={"monthly": {"amount_cents": 5}}, storage_bytes=1.5),
            "plan 'pro': storage_bytes must be a whole number ≥ 0",
        ),
    ],
)
def test_each_refusal_names_the_plan_and_the_field(data: object, message: str) -> None:
    with pytest.raises(PlanFileError) as refused:
        parse_catalogue(data)
    assert str(refused.value).startswith(message)
