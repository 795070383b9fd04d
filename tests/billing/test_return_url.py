"""Where a checkout may send the payer back: in app mode only to the app's own site (an origin of
one of its registered redirect URIs), so an app secret can't turn img.pro's checkout into an open
redirect; an API key (the owner's own workspace) may name any http(s) URL."""

from __future__ import annotations

import pytest

from tests.billing.helpers import subscription
from tests.billing.test_api import app_user, checkout
from tests.conftest import Stack


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/phish",
        "https://app.example.evil.example/done",
        "http://app.example/billing/done",  # another scheme is another origin
        "https://app.example:8443/billing/done",  # another port too
        "https://app.example:99999/billing/done",  # no port at all
    ],
)
def test_an_app_checkout_returns_only_to_the_apps_origins(stack: Stack, return_url: str) -> None:
    client, workspace_id = app_user(stack)
    response = checkout(client, return_url=return_url)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_target_url" and "return_url" in error["details"]
    assert subscription(stack, workspace_id) is None


def test_an_app_checkout_may_return_anywhere_on_its_origin(stack: Stack) -> None:
    client, _ = app_user(stack)  # registered https://app.example/auth/callback
    for return_url in ("https://APP.example/any/path?x=1", "https://app.example:443/done"):
        response = checkout(client, return_url=return_url)
        assert response.status_code == 201, response.text


def test_an_api_key_may_return_to_any_https_url(stack: Stack) -> None:
    client = stack.client(stack.key())
    response = checkout(client, return_url="https://anywhere.example/thanks")
    assert response.status_code == 201, response.text
    bad_port = checkout(client, return_url="https://anywhere.example:99999/thanks")
    assert bad_port.json()["error"]["code"] == "invalid_target_url"
