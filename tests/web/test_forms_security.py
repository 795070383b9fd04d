"""Every form needs its CSRF token (and changes nothing without it); no open redirects."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Person, Stack
from tests.factories import identity as idf


def _signed_in(stack: Stack, plan: str = "pro") -> tuple[httpx.Client, Person]:
    person = stack.user(plan)
    client = stack.client()
    idf.sign_in(stack, client, person.email)
    return client, person


POSTS = [
    ("/dashboard/keys", {"name": "k", "read": "on", "write": "on"}),
    ("/dashboard/apps", {"name": "Csrf App", "redirect_uris": idf.CALLBACK}),
    ("/dashboard/account/delete", {"confirm_email": "EMAIL"}),
    ("/signout", {}),
]


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_posts_without_a_valid_token_change_nothing(
    stack: Stack, path: str, data: dict[str, str]
) -> None:
    client, person = _signed_in(stack)
    data = {k: v.replace("EMAIL", person.email) for k, v in data.items()}
    for token in (None, "", "0" * 64):
        body = data if token is None else {**data, "csrf_token": token}
        response = client.post(path, data=body)
        assert response.status_code == 403, response.text
        assert "nothing was changed" in response.text
    keys = client.get("/dashboard/keys")
    assert keys.status_code == 200 and "No API keys yet" in keys.text  # still signed in
    assert "Csrf App" not in client.get("/dashboard/apps").text


def test_a_token_from_another_browser_is_refused(stack: Stack) -> None:
    client, _person = _signed_in(stack)
    attacker = stack.client()
    foreign = idf.csrf_of(attacker.get("/signin").text)
    response = client.post("/dashboard/keys", data={"csrf_token": foreign, "read": "on"})
    assert response.status_code == 403


def test_sign_in_and_connect_forms_need_the_token(stack: Stack) -> None:
    app = idf.register_app(stack)
    client = stack.client()
    page = client.get(idf.connect_url(app))
    fields = idf.hidden_fields(page.text)
    del fields["csrf_token"]
    for path in ("/connect/email", "/connect/code", "/connect/consent", "/connect/cancel"):
        response = client.post(path, data={**fields, "email": idf.new_email(), "code": "123456"})
        assert response.status_code == 403 and "location" not in response.headers
    assert client.post("/signin", data={"email": idf.new_email()}).status_code == 403


@pytest.mark.parametrize(
    "next_value",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/\t/evil.example",
        " //evil.example",
    ],
)
def test_no_open_redirect_through_next(stack: Stack, next_value: str) -> None:
    email = idf.new_email()
    client = stack.client()
    token = idf.csrf_of(client.get("/signin", params={"next": next_value}).text)
    client.post("/signin", data={"csrf_token": token, "email": email, "next": next_value})
    response = client.post(
        "/signin/code",
        data={
            "csrf_token": token,
            "email": email,
            "code": idf.outbox_code(stack, email),
            "next": next_value,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    signed_in = client.get("/signin", params={"next": next_value})
    assert signed_in.headers["location"] == "/dashboard"


def test_a_local_next_is_kept(stack: Stack) -> None:
    client = stack.client()
    response = client.get("/dashboard/apps")
    assert response.headers["location"] == "/signin?next=%2Fdashboard%2Fapps"
    email = idf.new_email()
    token = idf.csrf_of(client.get(response.headers["location"]).text)
    client.post("/signin", data={"csrf_token": token, "email": email, "next": "/dashboard/apps"})
    done = client.post(
        "/signin/code",
        data={
            "csrf_token": token,
            "email": email,
            "code": idf.outbox_code(stack, email),
            "next": "/dashboard/apps",
        },
    )
    assert done.headers["location"] == "/dashboard/apps"


def test_page_notices_never_echo_the_address_bar(stack: Stack) -> None:
    client, _ = _signed_in(stack)
    page = client.get("/dashboard", params={"done": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in page.text


def test_nul_and_control_characters_in_forms_are_not_a_500(stack: Stack) -> None:
    client, _ = _signed_in(stack)
    token = idf.csrf_of(client.get("/dashboard/keys").text)
    key = client.post("/dashboard/keys", data={"csrf_token": token, "name": "a\x00b", "read": "on"})
    assert key.status_code == 200
    app = client.post(
        "/dashboard/apps",
        data={"csrf_token": token, "name": "x\x00\x01", "redirect_uris": idf.CALLBACK + "\x00"},
    )
    assert app.status_code == 422
    anonymous = stack.client()
    token = idf.csrf_of(anonymous.get("/signin?next=%00").text)
    signin = anonymous.post("/signin", data={"csrf_token": token, "email": "a\x00@b.example"})
    assert signin.status_code in (200, 422)
    weird = anonymous.get(
        "/connect", params={"app": "\x00", "redirect_uri": "\x00", "state": "\x00"}
    )
    assert weird.status_code == 400


@pytest.mark.parametrize(
    ("path", "base", "target"),
    [
        ("/dashboard/keys/?x=1", "web_url", "/dashboard/keys?x=1"),
        ("/signin/", "web_url", "/signin"),
        ("/src/abc/abcdefgh.png/", "cdn_url", "/abc/abcdefgh.png"),
    ],
)
def test_redirects_are_built_from_the_configured_base_urls(
    stack: Stack, path: str, base: str, target: str
) -> None:
    response = stack.client().get(path, headers={"Host": "evil.example"})
    assert response.is_redirect
    assert response.headers["location"] == getattr(stack.settings, base) + target


@pytest.mark.parametrize("path", ["/v1/images/", "/v1/usage/"])
def test_api_paths_are_exact(stack: Stack, path: str) -> None:
    response = stack.client().get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404 and "location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"
