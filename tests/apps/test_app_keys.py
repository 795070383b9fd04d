"""App API keys (decisions.md §10): keys of an app with Read/Write and a data access of "App
storage only" (the app's own workspace; works while the app is suspended) or "App-wide" (also
X-Img-User for the app's connected users; 403 app_suspended while suspended)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from tests.billing.test_pages import checkout_from_page, pay, signed_in
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make

PNG = make.png(6, 6)


def upload(client: httpx.Client, **data: str) -> httpx.Response:
    return client.post("/v1/images", files={"file": ("a.png", PNG)}, data=data)


def listed(client: httpx.Client) -> set[str]:
    response = client.get("/v1/images", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {image["id"] for image in response.json()["data"]}


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def test_an_app_storage_key_acts_on_the_apps_own_workspace_only(stack: Stack) -> None:
    app = idf.register_app(stack)
    user = idf.connected_user(stack, app)
    key = idf.app_key(stack, app, "app")
    assert re.fullmatch(r"img_live_[0-9A-Za-z]{32}", key)
    storage = stack.client(key)

    created = upload(storage)
    assert created.status_code == 201, created.text
    image = created.json()
    assert image["public"] is True and image["expires_at"] is None
    assert listed(storage) == {image["id"]}
    usage = storage.get("/v1/usage").json()
    assert usage["totals"]["images_stored"] == 1 and usage["plan"] == "free"

    # the same app's users and the owner's personal workspace are other workspaces
    assert listed(idf.act_as(stack, app, user)) == set()
    assert listed(stack.client(stack.key(app.owner))) == set()
    # and an App storage only key cannot act for users
    refused = stack.client(key, **{"X-Img-User": user}).get("/v1/images")
    assert error_of(refused, 403) == "forbidden" and "App-wide" in refused.text


def test_an_app_wide_key_acts_on_app_storage_and_for_connected_users(stack: Stack) -> None:
    app = idf.register_app(stack)
    user = idf.connected_user(stack, app)
    stranger = stack.user()
    storage_key, wide_key = idf.app_key(stack, app, "app"), idf.app_key(stack, app, "app-wide")
    in_storage = upload(stack.client(storage_key)).json()["id"]
    for_user = upload(idf.act_as(stack, app, user)).json()["id"]

    assert listed(stack.client(wide_key)) == {in_storage}  # no X-Img-User: the app's storage
    as_user = stack.client(wide_key, **{"X-Img-User": user})
    assert listed(as_user) == {for_user}
    made = upload(as_user)
    assert made.status_code == 201
    assert listed(idf.act_as(stack, app, user)) == {for_user, made.json()["id"]}

    # the machine secret's sandbox: anyone not connected is user_forbidden, never a 404
    for other in (stranger.id, "zzzzzzzz", "not an id"):
        response = stack.client(wide_key, **{"X-Img-User": other}).get("/v1/images")
        assert error_of(response, 403) == "user_forbidden"
    assert error_of(stack.client(wide_key, **{"X-Img-User": ""}).get("/v1/images"), 422) == (
        "validation_error"
    )


def test_abilities_limit_app_keys_and_the_write_probe_tells_them_apart(stack: Stack) -> None:
    app = idf.register_app(stack)
    user = idf.connected_user(stack, app)
    for access in ("app", "app-wide"):
        read_only = stack.client(idf.app_key(stack, app, access, "read"))
        writer = stack.client(idf.app_key(stack, app, access, "write"))
        assert error_of(read_only.post("/v1/images", json={}), 403) == "forbidden"
        assert error_of(writer.post("/v1/images", json={}), 422) == "validation_error"
        assert read_only.get("/v1/usage").status_code == 200
        assert error_of(writer.get("/v1/usage"), 403) == "forbidden"
    wide_reader = stack.client(idf.app_key(stack, app, "app-wide", "read"), **{"X-Img-User": user})
    assert error_of(upload(wide_reader), 403) == "forbidden"
    assert wide_reader.get("/v1/images").status_code == 200


def test_suspension_stops_app_wide_keys_but_not_app_storage_keys(stack: Stack) -> None:
    app = idf.register_app(stack)
    user = idf.connected_user(stack, app)
    storage = stack.client(idf.app_key(stack, app, "app"))
    wide_key = idf.app_key(stack, app, "app-wide")
    idf.suspend(stack, app.id)
    try:
        assert upload(storage).status_code == 201
        assert storage.get("/v1/usage").status_code == 200
        assert error_of(stack.client(wide_key).get("/v1/images"), 403) == "app_suspended"
        as_user = stack.client(wide_key, **{"X-Img-User": user})
        assert error_of(as_user.get("/v1/images"), 403) == "app_suspended"
        assert error_of(idf.act_as(stack, app, user).get("/v1/images"), 403) == "app_suspended"
    finally:
        idf.suspend(stack, app.id, "active")
    assert stack.client(wide_key).get("/v1/images").status_code == 200


def test_app_keys_stop_with_their_owner_their_revocation_or_their_app(stack: Stack) -> None:
    app = idf.register_app(stack)
    key = idf.app_key(stack, app, "app")
    browser = signed_in(stack, app.owner)
    page = browser.get(f"/dashboard/apps/{app.id}")
    [key_id] = re.findall(rf"/dashboard/apps/{app.id}/keys/([a-z0-9]{{8}})/revoke", page.text)
    # the personal keys page cannot revoke an app's key
    browser.post(f"/dashboard/keys/{key_id}/revoke", data={"csrf_token": idf.csrf_of(page.text)})
    assert stack.client(key).get("/v1/usage").status_code == 200
    revoked = browser.post(
        f"/dashboard/apps/{app.id}/keys/{key_id}/revoke",
        data={"csrf_token": idf.csrf_of(page.text)},
    )
    assert revoked.status_code == 303
    assert error_of(stack.client(key).get("/v1/usage"), 401) == "unauthorized"

    second = idf.app_key(stack, app, "app-wide")
    image = upload(stack.client(second)).json()
    page = browser.get(f"/dashboard/apps/{app.id}")
    deleted = browser.post(
        f"/dashboard/apps/{app.id}/delete",
        data={"csrf_token": idf.csrf_of(page.text), "confirm_name": app.name},
    )
    assert deleted.status_code == 303
    assert error_of(stack.client(second).get("/v1/usage"), 401) == "unauthorized"
    assert stack.client().get(image["url"]).status_code == 404


def test_images_in_app_storage_are_always_public(stack: Stack) -> None:
    client = stack.client(idf.app_key(stack, idf.register_app(stack), "app"))
    assert error_of(upload(client, public="false"), 422) == "validation_error"
    image = upload(client).json()
    patched = client.patch(f"/v1/images/{image['id']}", json={"public": False})
    assert error_of(patched, 422) == "validation_error"


def test_the_app_page_creates_keys_and_shows_app_storage(stack: Stack) -> None:
    app = idf.register_app(stack)
    browser = signed_in(stack, app.owner)
    page = browser.get(f"/dashboard/apps/{app.id}")
    assert "App storage only" in page.text and "App-wide" in page.text
    assert "Created with the app" in page.text  # no storage until the first key
    made = browser.post(
        f"/dashboard/apps/{app.id}/keys",
        data={
            "csrf_token": idf.csrf_of(page.text),
            "name": "WordPress",
            "read": "on",
            "write": "on",
            "access": "app-wide",
        },
    )
    assert made.status_code == 200
    [key] = re.findall(r'<code id="new-key">(img_live_[0-9A-Za-z]{32})</code>', made.text)
    assert "WordPress" in made.text and "App-wide" in made.text
    assert upload(stack.client(key)).status_code == 201
    page = browser.get(f"/dashboard/apps/{app.id}")
    assert key not in page.text  # shown once
    assert "1 image stored" in page.text and "/billing?workspace=" in page.text

    bad = browser.post(
        f"/dashboard/apps/{app.id}/keys",
        data={"csrf_token": idf.csrf_of(page.text), "read": "on", "access": "everything"},
    )
    assert bad.status_code == 422 and "data access" in bad.text
    # another user's app: no page, no key
    other = signed_in(stack, stack.user("pro"))
    stolen = other.post(
        f"/dashboard/apps/{app.id}/keys",
        data={
            "csrf_token": idf.csrf_of(other.get("/dashboard").text),
            "read": "on",
            "access": "app",
        },
    )
    assert stolen.status_code == 404 and "img_live_" not in stolen.text


def test_app_storage_is_on_the_billing_page_and_its_owner_upgrades_it(stack: Stack) -> None:
    app = idf.register_app(stack, name="Storage Billing")
    key = idf.app_key(stack, app, "app")
    client = stack.client(key)
    status = client.get("/v1/billing/status").json()
    assert status["plan"] == "free"
    workspace_id = status["manage_url"].rsplit("workspace=", 1)[1]

    browser = signed_in(stack, app.owner)
    page = browser.get(status["manage_url"])
    assert "Storage Billing · App storage" in page.text
    pay(browser, checkout_from_page(browser, workspace_id))
    assert client.get("/v1/usage").json()["plan"] == "pro"
    # the owner's personal workspace kept its own plan
    assert stack.client(stack.key(app.owner)).get("/v1/usage").json()["plan"] == "pro"
    # someone else cannot manage it
    other = signed_in(stack, stack.user())
    assert "Storage Billing" not in other.get(status["manage_url"]).text


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--app", "APP"), "validation_error"),  # no --access
        (("--app", "APP", "--access", "everything"), "validation_error"),
        (("--app", "zzzzzzzz", "--access", "app"), "not_found"),
        (("--user", "dev@example.com", "--app", "APP", "--access", "app"), "validation_error"),
        (("--user", "dev@example.com", "--access", "app"), "validation_error"),
        ((), "validation_error"),
    ],
)
def test_admin_key_create_refusals(
    cli: Callable[..., str], args: tuple[str, ...], code: str
) -> None:
    cli("admin", "user", "create", "dev@example.com")
    app_id = json.loads(
        cli(
            "admin", "app", "create", "--owner", "dev@example.com", "--name", "CLI App",
            "--redirect-uri", "https://a.example/cb", "--json",
        )
    )["id"]  # fmt: skip
    args = tuple(app_id if arg == "APP" else arg for arg in args)
    refused = json.loads(cli("admin", "key", "create", *args, "--json", code=1))
    assert refused["error"]["code"] == code


def test_admin_key_create_makes_app_keys(cli: Callable[..., str]) -> None:
    cli("admin", "user", "create", "dev@example.com")
    app_id = json.loads(
        cli(
            "admin", "app", "create", "--owner", "dev@example.com", "--name", "CLI App",
            "--redirect-uri", "https://a.example/cb", "--json",
        )
    )["id"]  # fmt: skip
    made = json.loads(
        cli("admin", "key", "create", "--app", app_id, "--access", "app-wide",
            "--abilities", "read", "--json")
    )  # fmt: skip
    assert set(made) == {"id", "key", "abilities", "app", "access"}
    assert (made["app"], made["access"], made["abilities"]) == (app_id, "app-wide", ["read"])
    assert re.fullmatch(r"img_live_[0-9A-Za-z]{32}", made["key"])
