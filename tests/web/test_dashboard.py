"""The dashboard: images, API keys, Apps page (registry), connected apps, account deletion."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import Person, Stack
from tests.factories import identity as idf
from tests.factories import images as make


def _signed_in(stack: Stack, plan: str = "pro") -> tuple[httpx.Client, Person]:
    person = stack.user(plan)
    client = stack.client()
    idf.sign_in(stack, client, person.email)
    return client, person


def _token(client: httpx.Client, path: str = "/dashboard") -> str:
    return idf.csrf_of(client.get(path).text)


def test_upload_view_and_delete_images(stack: Stack) -> None:
    client, person = _signed_in(stack)
    token = _token(client)
    uploaded = client.post(
        "/dashboard/images",
        data={"csrf_token": token, "caption": "Harbour", "visibility": "public"},
        files={"file": ("harbour.png", make.png(60, 40), "image/png")},
    )
    assert uploaded.status_code == 303
    page = client.get("/dashboard")
    assert "Harbour" in page.text and "Image uploaded." not in page.text
    image_id = re.search(r"/dashboard/images/([0-9a-z]{8})/delete", page.text).group(1)  # type: ignore[union-attr]
    api = stack.client(stack.key(person))
    assert api.get(f"/v1/images/{image_id}").json()["caption"] == "Harbour"
    bad = client.post(
        "/dashboard/images",
        data={"csrf_token": token},
        files={"file": ("notes.txt", b"hello", "text/plain")},
    )
    assert bad.status_code == 422 and "error-box" in bad.text
    deleted = client.post(f"/dashboard/images/{image_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert api.get(f"/v1/images/{image_id}").status_code == 404


def test_another_users_image_cannot_be_deleted_from_the_page(stack: Stack) -> None:
    owner = stack.user()
    api = stack.client(stack.key(owner))
    image = api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()
    client, _ = _signed_in(stack)
    client.post(f"/dashboard/images/{image['id']}/delete", data={"csrf_token": _token(client)})
    assert api.get(f"/v1/images/{image['id']}").status_code == 200


def test_api_key_is_shown_once_and_revocable(stack: Stack) -> None:
    client, _person = _signed_in(stack)
    token = _token(client, "/dashboard/keys")
    created = client.post(
        "/dashboard/keys", data={"csrf_token": token, "name": "blog", "read": "on"}
    )
    key = re.search(r"img_live_[0-9A-Za-z]{32}", created.text).group(0)  # type: ignore[union-attr]
    assert key not in client.get("/dashboard/keys").text
    api = stack.client(key)
    assert api.get("/v1/images").status_code == 200
    assert api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).status_code == 403
    key_id = re.search(r"/dashboard/keys/([0-9a-z]{8})/revoke", created.text).group(1)  # type: ignore[union-attr]
    client.post(f"/dashboard/keys/{key_id}/revoke", data={"csrf_token": token})
    assert api.get("/v1/images").status_code == 401
    none = client.post("/dashboard/keys", data={"csrf_token": token, "name": "x"})
    assert none.status_code == 422


def test_free_users_see_why_and_cannot_register(stack: Stack) -> None:
    client, _ = _signed_in(stack, "free")
    page = client.get("/dashboard/apps")
    assert "needs a paid plan" in page.text and "/billing" in page.text
    assert 'name="redirect_uris"' not in page.text
    refused = client.post(
        "/dashboard/apps",
        data={
            "csrf_token": idf.csrf_of(page.text),
            "name": "Sneaky",
            "redirect_uris": idf.CALLBACK,
        },
    )
    assert refused.status_code == 422 and "paid plan" in refused.text
    assert "Sneaky" not in client.get("/dashboard/apps").text


def _register(client: httpx.Client, name: str, uris: str) -> httpx.Response:
    token = _token(client, "/dashboard/apps")
    return client.post(
        "/dashboard/apps", data={"csrf_token": token, "name": name, "redirect_uris": uris}
    )


def test_register_edit_rotate_and_delete_an_app(stack: Stack) -> None:
    client, _ = _signed_in(stack)
    created = _register(client, "Pixel Notes", idf.CALLBACK + "\nhttp://localhost:3000/cb")
    assert created.status_code == 200
    secret = re.search(r"img_sk_live_[0-9A-Za-z]{32}", created.text).group(0)  # type: ignore[union-attr]
    app_id = re.search(r'id="app-id">([0-9a-z]{8})<', created.text).group(1)  # type: ignore[union-attr]
    listing = client.get("/dashboard/apps").text
    assert app_id in listing and secret not in listing
    detail = client.get(f"/dashboard/apps/{app_id}").text
    assert secret not in detail and "http://localhost:3000/cb" in detail
    assert stack.client(secret).post("/v1/auth/exchange", json={"code": "x"}).status_code == 422

    token = idf.csrf_of(detail)
    edited = client.post(
        f"/dashboard/apps/{app_id}",
        data={"csrf_token": token, "name": "Pixel Notes 2", "redirect_uris": idf.CALLBACK},
    )
    assert edited.status_code == 303
    assert "Pixel Notes 2" in client.get(f"/dashboard/apps/{app_id}").text
    bad_edit = client.post(
        f"/dashboard/apps/{app_id}",
        data={"csrf_token": token, "name": "My IMG.PRO", "redirect_uris": idf.CALLBACK},
    )
    assert bad_edit.status_code == 422
    assert "Pixel Notes 2" in client.get(f"/dashboard/apps/{app_id}").text

    rotated = client.post(f"/dashboard/apps/{app_id}/rotate", data={"csrf_token": token})
    new_secret = re.search(r"img_sk_live_[0-9A-Za-z]{32}", rotated.text).group(0)  # type: ignore[union-attr]
    assert stack.client(secret).post("/v1/auth/exchange", json={"code": "x"}).status_code == 401
    assert stack.client(new_secret).post("/v1/auth/exchange", json={"code": "x"}).status_code == 422

    unconfirmed = client.post(
        f"/dashboard/apps/{app_id}/delete", data={"csrf_token": token, "confirm_name": "nope"}
    )
    assert unconfirmed.status_code == 422
    deleted = client.post(
        f"/dashboard/apps/{app_id}/delete",
        data={"csrf_token": token, "confirm_name": "Pixel Notes 2"},
    )
    assert deleted.status_code == 303
    assert stack.client(new_secret).post("/v1/auth/exchange", json={"code": "x"}).status_code == 401


APP_ACTIONS = (
    "",
    "/keys",
    "/keys/k1b2c3d4/revoke",
    "/rotate",
    "/webhook",
    "/webhook/rotate",
    "/webhook/test",
    "/delete",
)


def test_someone_elses_app_is_not_found(stack: Stack) -> None:
    app = idf.register_app(stack)
    client, _ = _signed_in(stack)
    page = client.get(f"/dashboard/apps/{app.id}")
    assert page.status_code == 404 and page.headers["cache-control"] == "no-store"
    token = _token(client)
    data = {"name": "X", "redirect_uris": idf.CALLBACK, "confirm_name": app.name, "read": "on"}
    for action in APP_ACTIONS:
        response = client.post(f"/dashboard/apps/{app.id}{action}", data=data)
        assert response.status_code == 403, action  # the form's token is checked first
        response = client.post(
            f"/dashboard/apps/{app.id}{action}", data={**data, "csrf_token": token}
        )
        assert response.status_code == 404, action
        assert "/dashboard/apps" in response.text
    assert idf.exchange(stack, app.secret, {"code": "x"}).status_code == 422


@pytest.mark.parametrize(
    ("name", "uris", "message"),
    [
        ("My IMG.PRO app", idf.CALLBACK, "img.pro"),
        ("img.pro", idf.CALLBACK, "img.pro"),
        ("ｉｍｇ.ｐｒｏ", idf.CALLBACK, "img.pro"),
        ("img[.]pro", idf.CALLBACK, "img.pro"),
        ("", idf.CALLBACK, "name"),
        ("x" * 65, idf.CALLBACK, "64"),
        ("✓ Official", idf.CALLBACK, "check marks"),
        ("Fine", "http://app.example/cb", "https"),
        ("Fine", "https://app.example/cb#x", "fragment"),
        ("Fine", "https://app.example@evil.example/cb", "user name"),
        ("Fine", "javascript:alert(1)", "https"),
        ("Fine", "https://app.example/cb?code=1", "code, state"),
        ("Fine", "https://app.example/cb?state=1", "code, state"),
        ("Fine", "https://App.Example/cb", "lower case"),
        ("Fine", "/relative/cb", "https"),
        ("Fine", "https://app.example/c b", "spaces"),
        ("Fine", "\n".join(f"https://app.example/{i}" for i in range(11)), "At most 10"),
        ("Fine", "", "at least one"),
    ],
)
def test_registration_refusals_change_nothing(
    stack: Stack, name: str, uris: str, message: str
) -> None:
    client, _ = _signed_in(stack)
    response = _register(client, name, uris)
    assert response.status_code == 422
    assert message.lower() in response.text.lower()
    assert "img_sk_live_" not in response.text
    assert "Your apps" not in response.text


def test_connected_apps_list_and_revoke(stack: Stack) -> None:
    app = idf.register_app(stack, name="Gallery Maker")
    email = idf.new_email()
    client, query = idf.run_connect(stack, app, email)
    user_id = idf.exchange(stack, app.secret, {"code": query["code"]}).json()["user"]["id"]
    acting = idf.act_as(stack, app, user_id)
    acting.post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
    acting.post("/v1/images", files={"file": ("b.png", make.png(8, 8))})
    page = client.get("/dashboard/connections")
    assert "Gallery Maker" in page.text and "Free" in page.text
    assert re.search(r"<td>2</td>", page.text)
    revoked = client.post(
        f"/dashboard/connections/{app.id}/revoke", data={"csrf_token": idf.csrf_of(page.text)}
    )
    assert revoked.status_code == 303
    assert "Gallery Maker" not in client.get("/dashboard/connections").text
    assert acting.get("/v1/images").json()["error"]["code"] == "user_forbidden"


def test_account_deletion_needs_confirmation_and_removes_everything(stack: Stack) -> None:
    app = idf.register_app(stack)
    email = idf.new_email()
    client, query = idf.run_connect(stack, app, email)
    user_id = idf.exchange(stack, app.secret, {"code": query["code"]}).json()["user"]["id"]
    in_app = (
        idf.act_as(stack, app, user_id)
        .post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
        .json()
    )
    personal_key = stack.key(Person(user_id, email))
    personal = (
        stack.client(personal_key)
        .post("/v1/images", files={"file": ("b.png", make.png(8, 8))})
        .json()
    )
    # the user also owns an app with someone else's workspace in it
    owned = idf.register_app(stack, owner=Person(user_id, email), name="Owned")
    other_user = idf.connected_user(stack, owned)
    in_owned = (
        idf.act_as(stack, owned, other_user)
        .post("/v1/images", files={"file": ("c.png", make.png(8, 8))})
        .json()
    )
    cdn = stack.client()
    for image in (in_app, personal, in_owned):
        assert cdn.get(image["url"]).status_code == 200

    token = idf.csrf_of(client.get("/dashboard/account").text)
    refused = client.post(
        "/dashboard/account/delete", data={"csrf_token": token, "confirm_email": "x@y.z"}
    )
    assert refused.status_code == 422
    assert cdn.get(personal["url"]).status_code == 200

    deleted = client.post(
        "/dashboard/account/delete", data={"csrf_token": token, "confirm_email": email}
    )
    assert deleted.status_code == 303
    for image in (in_app, personal, in_owned):
        assert cdn.get(image["url"]).status_code == 404
    assert idf.act_as(stack, app, user_id).get("/v1/images").json()["error"]["code"] == (
        "user_forbidden"
    )
    assert stack.client(personal_key).get("/v1/images").status_code == 401
    assert client.get("/dashboard").status_code == 303


def test_pages_that_show_a_secret_once_are_never_stored(stack: Stack) -> None:
    client, _ = _signed_in(stack)
    key_page = client.post(
        "/dashboard/keys", data={"csrf_token": _token(client, "/dashboard/keys"), "read": "on"}
    )
    assert "img_live_" in key_page.text
    created = _register(client, "Stored Nowhere", idf.CALLBACK)
    assert "img_sk_live_" in created.text
    app_id = re.search(r'id="app-id">([0-9a-z]{8})<', created.text).group(1)  # type: ignore[union-attr]
    rotated = client.post(
        f"/dashboard/apps/{app_id}/rotate", data={"csrf_token": _token(client, "/dashboard/apps")}
    )
    assert "img_sk_live_" in rotated.text
    for page in (key_page, created, rotated):
        assert "no-store" in page.headers["cache-control"]


def test_actions_on_someone_elses_key_image_or_connection_are_not_found(stack: Stack) -> None:
    owner_client, owner = _signed_in(stack)
    created = owner_client.post(
        "/dashboard/keys",
        data={"csrf_token": _token(owner_client, "/dashboard/keys"), "read": "on", "write": "on"},
    )
    key = re.search(r"img_live_[0-9A-Za-z]{32}", created.text).group(0)  # type: ignore[union-attr]
    key_id = re.search(r"/dashboard/keys/([0-9a-z]{8})/revoke", created.text).group(1)  # type: ignore[union-attr]
    api = stack.client(key)
    image = api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()
    app = idf.register_app(stack, name="Owner Only")
    idf.connect_directly(stack, app, owner)

    client, _ = _signed_in(stack)
    token = _token(client)
    for action in (
        f"/dashboard/keys/{key_id}/revoke",
        f"/dashboard/images/{image['id']}/delete",
        f"/dashboard/connections/{app.id}/revoke",
        "/dashboard/keys/zzzzzzzz/revoke",
        "/dashboard/images/zzzzzzzz/delete",
        "/dashboard/connections/zzzzzzzz/revoke",
    ):
        response = client.post(action, data={"csrf_token": token})
        assert response.status_code == 404, action
        assert "not found" in response.text.lower() and "done=" not in response.text
    assert api.get(f"/v1/images/{image['id']}").status_code == 200
    connections = owner_client.get("/dashboard/connections").text
    assert "Owner Only" in connections
