"""The hosted login end to end over HTTP: email → code → consent → callback → exchange → act."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make


def test_connect_exchange_and_upload_as_the_user(stack: Stack) -> None:
    app = idf.register_app(stack, name="Pixel Notes")
    email = idf.new_email()
    _client, query = idf.run_connect(stack, app, email, state="xyz-123")
    assert set(query) == {"code", "state"} and query["state"] == "xyz-123"

    response = idf.exchange(stack, app.secret, {"code": query["code"]})
    assert response.status_code == 200, response.text
    context = response.json()
    user_id = context["user"]["id"]
    assert context == {
        "object": "auth_context",
        "app": {"id": app.id, "object": "app", "name": "Pixel Notes"},
        "user": {"id": user_id, "object": "user", "email": email, "verified": True},
    }

    acting = idf.act_as(stack, app, user_id)
    uploaded = acting.post("/v1/images", files={"file": ("a.png", make.png(40, 30))})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["public"] is True
    listed = acting.get("/v1/images").json()
    assert [image["id"] for image in listed["data"]] == [uploaded.json()["id"]]
    assert acting.get("/v1/usage").json()["totals"]["images_stored"] == 1


def test_state_is_left_out_when_the_app_sent_none(stack: Stack) -> None:
    app = idf.register_app(stack)
    _client, query = idf.run_connect(stack, app, idf.new_email())
    assert set(query) == {"code"}


def test_a_live_session_skips_the_email_step(stack: Stack) -> None:
    app = idf.register_app(stack)
    email = idf.new_email()
    client, _ = idf.run_connect(stack, app, email)
    other = idf.register_app(stack, name="Other App")
    page = client.get(idf.connect_url(other))
    assert "Continue as" in page.text and email in page.text
    assert "Connect Other App to img.pro?" in page.text
