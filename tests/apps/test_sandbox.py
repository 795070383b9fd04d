"""Acting for a user: secret + X-Img-User on every data endpoint, and nothing leaks."""

from __future__ import annotations

import pytest

from imgpro.accounts import service as accounts
from imgpro.apps import service as apps
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make

ENDPOINTS = [
    ("GET", "/v1/images", None),
    ("GET", "/v1/usage", None),
    ("GET", "/v1/images/abcdefgh", None),
    ("DELETE", "/v1/images/batch", {"ids": ["abcdefgh"]}),
    ("PATCH", "/v1/images/abcdefgh", {"caption": "x"}),
    ("DELETE", "/v1/images/abcdefgh", None),
]


def _call(client: object, method: str, path: str, body: object) -> object:
    return client.request(method, path, json=body)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_missing_x_img_user_is_a_validation_error(
    stack: Stack, method: str, path: str, body: object
) -> None:
    app = idf.register_app(stack)
    response = _call(stack.client(app.secret), method, path, body)
    assert response.status_code == 422  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "validation_error" and "X-Img-User" in error["details"]
    upload = stack.client(app.secret).post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
    assert upload.status_code == 422


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_a_personal_api_key_with_x_img_user_is_refused_not_ignored(
    stack: Stack, method: str, path: str, body: object
) -> None:
    owner = stack.user()
    key_client = stack.client(stack.key(owner))
    kept = key_client.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()
    key_client.headers["X-Img-User"] = owner.id  # even the key's own user
    response = _call(key_client, method, path, body)
    assert response.status_code == 422  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "validation_error"
    assert "X-Img-User is for app credentials" in error["details"]["X-Img-User"][0]
    upload = key_client.post("/v1/images", files={"file": ("b.png", make.png(8, 8))})
    assert upload.status_code == 422
    del key_client.headers["X-Img-User"]
    assert [image["id"] for image in key_client.get("/v1/images").json()["data"]] == [kept["id"]]


def _set_user_status(stack: Stack, user_id: str, status: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, user_id)
            assert user is not None
            await accounts.set_status(db, user, status)

    stack.run(work)


def _revoke(stack: Stack, app_id: str, user_id: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, user_id)
            assert user is not None
            await apps.revoke(db, user, app_id)

    stack.run(work)


def _delete_user(stack: Stack, user_id: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, user_id)
            assert user is not None
            await apps.delete_account(db, rt.blobs, user)

    stack.run(work)


def test_every_foreign_user_gets_the_same_403(stack: Stack) -> None:
    app = idf.register_app(stack)
    other = idf.register_app(stack, name="Other")
    mine = idf.connected_user(stack, app)
    theirs = idf.connected_user(stack, other)
    revoked = idf.connected_user(stack, app)
    disabled = idf.connected_user(stack, app)
    deleted = idf.connected_user(stack, app)
    _revoke(stack, app.id, revoked)
    _set_user_status(stack, disabled, "disabled")
    _delete_user(stack, deleted)
    never_connected = stack.user().id

    bodies = set()
    for user_id in (
        theirs,
        revoked,
        disabled,
        deleted,
        never_connected,
        "zzzzzzzz",
        "../x",
        "A" * 90,
    ):
        for method, path, body in [*ENDPOINTS, ("POST", "/v1/images", None)]:
            response = _call(idf.act_as(stack, app, user_id), method, path, body)
            assert response.status_code == 403, (user_id, path)  # type: ignore[attr-defined]
            bodies.add(response.text)  # type: ignore[attr-defined]
    assert len(bodies) == 1 and "user_forbidden" in bodies.pop()
    assert idf.act_as(stack, app, mine).get("/v1/images").status_code == 200


def test_suspended_app_comes_before_the_user_checks(stack: Stack) -> None:
    app = idf.register_app(stack)
    user_id = idf.connected_user(stack, app)
    idf.suspend(stack, app.id)
    for client in (idf.act_as(stack, app, user_id), stack.client(app.secret)):
        response = client.get("/v1/images")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "app_suspended"
    idf.suspend(stack, app.id, "active")
    assert idf.act_as(stack, app, user_id).get("/v1/images").status_code == 200


def test_a_wrong_secret_is_401(stack: Stack) -> None:
    app = idf.register_app(stack)
    user_id = idf.connected_user(stack, app)
    forged = stack.client("img_sk_live_" + "A" * 32, **{"X-Img-User": user_id})
    assert forged.get("/v1/images").status_code == 401


def test_app_uploads_are_always_public(stack: Stack) -> None:
    app = idf.register_app(stack)
    acting = idf.act_as(stack, app, idf.connected_user(stack, app))
    refused = acting.post(
        "/v1/images", files={"file": ("a.png", make.png(8, 8))}, data={"public": "false"}
    )
    assert refused.status_code == 422
    assert acting.get("/v1/images").json()["data"] == []
    image = acting.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()
    patched = acting.patch(f"/v1/images/{image['id']}", json={"public": False})
    assert patched.status_code == 422


def test_the_same_person_has_separate_workspaces_per_app_and_personal(stack: Stack) -> None:
    first = idf.register_app(stack, name="First")
    second = idf.register_app(stack, name="Second")
    email = idf.new_email()
    client, query = idf.run_connect(stack, first, email)
    user_id = idf.exchange(stack, first.secret, {"code": query["code"]}).json()["user"]["id"]
    _client, query2 = idf.run_connect(stack, second, email, client=client)
    assert (
        idf.exchange(stack, second.secret, {"code": query2["code"]}).json()["user"]["id"] == user_id
    )

    in_first = idf.act_as(stack, first, user_id)
    image = in_first.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()
    in_second = idf.act_as(stack, second, user_id)
    assert in_second.get(f"/v1/images/{image['id']}").status_code == 404
    assert in_second.get("/v1/images").json()["data"] == []
    assert in_second.delete(f"/v1/images/{image['id']}").status_code == 404
    batch = in_second.request("DELETE", "/v1/images/batch", json={"ids": [image["id"]]})
    assert batch.status_code == 200
    assert in_first.get(f"/v1/images/{image['id']}").status_code == 200

    personal = stack.client(stack.key(idf.Person(user_id, email)))
    assert personal.get(f"/v1/images/{image['id']}").status_code == 404


def test_reconnecting_after_a_revoke_finds_the_same_workspace(stack: Stack) -> None:
    app = idf.register_app(stack)
    email = idf.new_email()
    client, query = idf.run_connect(stack, app, email)
    user_id = idf.exchange(stack, app.secret, {"code": query["code"]}).json()["user"]["id"]
    image = (
        idf.act_as(stack, app, user_id)
        .post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
        .json()
    )
    _revoke(stack, app.id, user_id)
    assert idf.act_as(stack, app, user_id).get("/v1/images").status_code == 403
    silent = client.get(idf.connect_url(app, prompt="none"))
    assert idf.query_of(silent.headers["location"])["error"] == "interaction_required"
    _client, query = idf.run_connect(stack, app, email, client=client)
    assert idf.exchange(stack, app.secret, {"code": query["code"]}).status_code == 200
    listed = idf.act_as(stack, app, user_id).get("/v1/images").json()["data"]
    assert [i["id"] for i in listed] == [image["id"]]
