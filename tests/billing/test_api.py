"""GET /v1/billing/status and POST /v1/billing/checkout in app mode (local provider)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from imgpro.units import GB
from tests.billing.helpers import set_plan, subscription
from tests.conftest import Stack
from tests.factories import identity as idf

RETURN = "https://app.example/billing/done"


def app_user(stack: Stack) -> tuple[httpx.Client, str]:
    """A user connected to an app, acted for with the machine secret; (client, workspace id)."""
    app = idf.register_app(stack)
    user_id = idf.connected_user(stack, app)
    client = idf.act_as(stack, app, user_id)
    manage = client.get("/v1/billing/status").json()["manage_url"]
    return client, parse_qs(urlsplit(manage).query)["workspace"][0]


def checkout(client: httpx.Client, **overrides: object) -> httpx.Response:
    body = {"plan": "pro", "interval": "monthly", "return_url": RETURN, **overrides}
    return client.post("/v1/billing/checkout", json=body)


def test_status_has_plan_usage_manage_url_and_the_paid_plans(stack: Stack) -> None:
    client, workspace_id = app_user(stack)
    status = client.get("/v1/billing/status")
    assert status.status_code == 200, status.text
    body = status.json()
    assert set(body) == {"object", "plan", "manage_url", "usage", "available_plans"}
    assert body["object"] == "billing_status" and body["plan"] == "free"
    assert body["manage_url"] == f"{stack.settings.web_url}/billing?workspace={workspace_id}"
    assert body["usage"] == client.get("/v1/usage").json()
    assert [plan["id"] for plan in body["available_plans"]] == ["pro", "scale", "max"]
    assert body["available_plans"][0] == {
        "object": "plan",
        "id": "pro",
        "name": "Pro",
        "prices": {
            "monthly": {"amount_cents": 900, "currency": "usd"},
            "annual": {"amount_cents": 9900, "currency": "usd"},
        },
        "limits": {"monthly_uploads": 1000, "storage_bytes": 10 * GB, "images": None},
    }


def test_checkout_answers_201_with_a_test_checkout_url(stack: Stack) -> None:
    client, workspace_id = app_user(stack)
    response = checkout(client)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"checkout_url"}
    url = response.json()["checkout_url"]
    assert url.startswith(f"{stack.settings.web_url}/billing/checkout/")
    page = stack.client().get(url)
    assert page.status_code == 200 and "Test checkout — no payment" in page.text
    assert client.get("/v1/billing/status").json()["plan"] == "free"  # nothing paid yet
    assert subscription(stack, workspace_id) is None


def test_checkout_with_the_same_idempotency_key_answers_the_first_url(stack: Stack) -> None:
    client, _ = app_user(stack)
    first = client.post(
        "/v1/billing/checkout",
        json={"plan": "pro", "interval": "monthly", "return_url": RETURN},
        headers={"Idempotency-Key": "co-1"},
    )
    again = client.post(
        "/v1/billing/checkout",
        json={"plan": "pro", "interval": "monthly", "return_url": RETURN},
        headers={"Idempotency-Key": "co-1"},
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = client.post(
        "/v1/billing/checkout",
        json={"plan": "scale", "interval": "monthly", "return_url": RETURN},
        headers={"Idempotency-Key": "co-1"},
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_conflict"


def test_a_paid_workspace_gets_409_already_subscribed(stack: Stack) -> None:
    client, workspace_id = app_user(stack)
    set_plan(stack, workspace_id, "pro")
    response = checkout(client, plan="scale")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "already_subscribed"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"plan": "free"}, "validation_error", "plan"),
        ({"plan": "platinum"}, "validation_error", "plan"),
        ({"plan": None}, "validation_error", "plan"),
        ({"interval": "weekly"}, "validation_error", "interval"),
        ({"interval": None}, "validation_error", "interval"),
        ({"return_url": None}, "invalid_target_url", "return_url"),
        ({"return_url": "javascript:alert(1)"}, "invalid_target_url", "return_url"),
        ({"return_url": "/billing/done"}, "invalid_target_url", "return_url"),
        ({"return_url": "//app.example/done"}, "invalid_target_url", "return_url"),
        ({"return_url": "ftp://app.example/done"}, "invalid_target_url", "return_url"),
        ({"return_url": "https://"}, "invalid_target_url", "return_url"),
        ({"return_url": "https://user:pw@app.example/"}, "invalid_target_url", "return_url"),
        ({"colour": "blue"}, "validation_error", "colour"),
    ],
)
def test_bad_checkout_input_is_refused_and_changes_nothing(
    stack: Stack, body: dict, code: str, field: str
) -> None:
    client, workspace_id = app_user(stack)
    full = {"plan": "pro", "interval": "monthly", "return_url": RETURN, **body}
    response = client.post("/v1/billing/checkout", json={k: v for k, v in full.items()})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code and field in error["details"], error
    assert client.get("/v1/billing/status").json()["plan"] == "free"
    assert subscription(stack, workspace_id) is None


def test_a_missing_return_url_is_an_invalid_target_url(stack: Stack) -> None:
    client, _ = app_user(stack)
    response = client.post("/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_target_url"


def test_billing_needs_a_credential_and_x_img_user(stack: Stack) -> None:
    anonymous = stack.client()
    assert anonymous.get("/v1/billing/status").status_code == 401
    assert checkout(anonymous).json()["error"]["code"] == "unauthorized"
    app = idf.register_app(stack)
    without_user = stack.client(app.secret)
    response = without_user.get("/v1/billing/status")
    assert response.status_code == 422 and "X-Img-User" in response.json()["error"]["details"]
    stranger = stack.client(app.secret, **{"X-Img-User": "zzzzzzzz"})
    assert stranger.get("/v1/billing/status").json()["error"]["code"] == "user_forbidden"
    assert checkout(stranger).json()["error"]["code"] == "user_forbidden"


def test_auth_is_checked_before_the_body(stack: Stack) -> None:
    response = stack.client("img_live_wrong").post("/v1/billing/checkout", content=b"{not json")
    assert response.status_code == 401


def test_a_read_only_key_reads_status_but_may_not_check_out(stack: Stack) -> None:
    client = stack.client(stack.key(abilities="read"))
    assert client.get("/v1/billing/status").status_code == 200
    assert checkout(client).json()["error"]["code"] == "forbidden"
