"""A running imgpro with an operator's plans file: its plans, prices and limits are the ones
the API shows and enforces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.billing.test_plans import PLANS_TOML
from tests.conftest import Stack, start_stack
from tests.factories import images as make


@pytest.fixture(scope="module")
def custom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("plans")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS_TOML)
    running, server = start_stack("plans", tmp, plans_file=Path(plans))
    try:
        yield running
    finally:
        running.close()
        server.stop()


def test_the_operator_catalogue_is_shown_and_enforced(custom_stack: Stack) -> None:
    client = custom_stack.client(custom_stack.key())
    status = client.get("/v1/billing/status").json()
    assert [plan["id"] for plan in status["available_plans"]] == ["studio"]
    assert status["available_plans"][0]["prices"] == {
        "monthly": {"amount_cents": 1250, "currency": "eur"}
    }
    assert status["usage"]["limits"]["monthly_uploads"]["limit"] == 2
    for _ in range(2):
        assert (
            client.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).status_code == 201
        )
    refused = client.post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
    assert refused.status_code == 403
    assert "Studio" in refused.json()["error"]["action"]["label"]
    annual = client.post(
        "/v1/billing/checkout",
        json={"plan": "studio", "interval": "annual", "return_url": "https://a.example/"},
    )
    assert annual.status_code == 422 and "interval" in annual.json()["error"]["details"]
    pro = client.post(
        "/v1/billing/checkout",
        json={"plan": "pro", "interval": "monthly", "return_url": "https://a.example/"},
    )
    assert pro.status_code == 422 and "plan" in pro.json()["error"]["details"]


def test_the_home_page_shows_the_operators_plans(custom_stack: Stack) -> None:
    page = custom_stack.client().get("/").text
    assert ">Studio</h3>" in page and "12.50 EUR" in page
    assert ">Scale</h3>" not in page and "$29" not in page
