"""Every event of decisions.md §7 from its real trigger, delivered signed to a real endpoint:
hosted-login consent and revoke, API upload/patch/delete, the expiry sweep, a plan change through
the checkout, account deletion and disabling."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from typer.testing import CliRunner

from imgpro.cli import app as cli_app
from imgpro.db.base import utcnow
from imgpro.images.tables import Image
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make
from tests.webhooks.conftest import Receiver, body_of, outbox, point_app_at

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "object": "user"}


def pay(browser, checkout_url: str) -> None:  # type: ignore[no-untyped-def]
    path = urlsplit(checkout_url).path
    page = browser.get(path)
    paid = browser.post(f"{path}/pay", data={"csrf_token": idf.csrf_of(page.text)})
    assert paid.status_code == 303, paid.text


def test_every_event_from_its_real_trigger(hook_stack: Stack, receiver: Receiver) -> None:
    stack = hook_stack
    app = idf.register_app(stack)
    point_app_at(stack, app, receiver)

    browser, query = idf.run_connect(stack, app, email := idf.new_email())
    user_id = idf.exchange(stack, app.secret, {"code": query["code"]}).json()["user"]["id"]
    connected = receiver.events(1)[0]
    assert connected["type"] == "user.connected" and ISO.match(connected["timestamp"])
    assert connected["data"] == {"user": user(user_id)}

    api = idf.act_as(stack, app, user_id)
    created = api.post("/v1/images", files={"file": ("a.png", make.png(40, 30))}).json()
    patched = api.patch(f"/v1/images/{created['id']}", json={"caption": "Boats"}).json()
    assert api.delete(f"/v1/images/{created['id']}").status_code == 200
    # delivered concurrently (a slow endpoint must not hold the rest back), so in any order
    events = {event["type"]: event for event in receiver.events(4)[1:]}
    assert sorted(events) == ["image.created", "image.deleted", "image.updated"]
    assert events["image.created"]["data"] == {"user": user(user_id), "image": created}
    assert events["image.updated"]["data"] == {"user": user(user_id), "image": patched}
    assert events["image.deleted"]["data"] == {
        "user": user(user_id),
        "image": {"id": created["id"], "object": "image", "deleted": True},
    }

    # expiry: the sweep deletes an image whose time is up (set here: app images keep forever)
    doomed = api.post("/v1/images", files={"file": ("b.png", make.png(20, 20))}).json()

    async def expire(rt: Runtime) -> None:
        async with rt.sessions() as db:
            past = utcnow() - timedelta(seconds=1)
            await db.execute(update(Image).where(Image.id == doomed["id"]).values(expires_at=past))
            await db.commit()

    stack.run(expire)
    env = {"IMGPRO_DATA_DIR": str(stack.settings.data_dir)}
    env["IMGPRO_DATABASE_URL"] = stack.settings.database_url
    swept = CliRunner().invoke(cli_app, ["admin", "sweep", "--json"], env=env)
    assert swept.exit_code == 0, swept.output
    sweep_event = receiver.events(6)[5]
    assert sweep_event["type"] == "image.deleted"
    assert sweep_event["data"]["image"] == {"id": doomed["id"], "object": "image", "deleted": True}

    checkout = api.post(
        "/v1/billing/checkout",
        json={"plan": "pro", "interval": "monthly", "return_url": "https://app.example/done"},
    )
    assert checkout.status_code == 201, checkout.text
    pay(browser, checkout.json()["checkout_url"])
    plan = receiver.events(7)[6]
    assert plan == {
        **plan,
        "type": "plan.changed",
        "data": {"user": user(user_id), "plan": "pro", "previous_plan": "free"},
    }

    page = browser.get("/dashboard/connections")
    revoked = browser.post(
        f"/dashboard/connections/{app.id}/revoke", data={"csrf_token": idf.csrf_of(page.text)}
    )
    assert revoked.status_code == 303
    assert receiver.events(8)[7] == {**receiver.events(8)[7], "type": "user.disconnected"}
    assert receiver.events(8)[7]["data"] == {"user": user(user_id)}

    # a reconnect after the revoke is a consent the app did not have: told again
    idf.run_connect(stack, app, email, client=browser)
    assert receiver.events(9)[8]["type"] == "user.connected"

    page = browser.get("/dashboard/account")
    deleted = browser.post(
        "/dashboard/account/delete",
        data={"csrf_token": idf.csrf_of(page.text), "confirm_email": email},
    )
    assert deleted.status_code in (200, 303), deleted.text
    gone = receiver.events(10)[9]
    assert gone["type"] == "user.deleted" and gone["data"] == {"user": user(user_id)}

    deliveries = receiver.wait_for(10)
    ids = [d.headers["webhook-id"] for d in deliveries]
    assert len(set(ids)) == 10 and all(i.startswith("msg_") for i in ids)
    assert [body_of(d)["type"] for d in deliveries] == [e["type"] for e in receiver.events(10)]


def test_disabling_a_user_tells_their_apps(hook_stack: Stack, receiver: Receiver) -> None:
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    email = idf.new_email()
    user_id = idf.connected_user(hook_stack, app, email)
    env = {"IMGPRO_DATA_DIR": str(hook_stack.settings.data_dir)}
    env["IMGPRO_DATABASE_URL"] = hook_stack.settings.database_url
    result = CliRunner().invoke(cli_app, ["admin", "user", "disable", email, "--json"], env=env)
    assert result.exit_code == 0, result.output
    events = receiver.events(2)
    assert [e["type"] for e in events] == ["user.connected", "user.deleted"]
    assert events[1]["data"] == {"user": user(user_id)}


def test_apps_without_an_endpoint_and_personal_workspaces_queue_nothing(
    hook_stack: Stack,
) -> None:
    app = idf.register_app(hook_stack)
    user_id = idf.connected_user(hook_stack, app)
    api = idf.act_as(hook_stack, app, user_id)
    assert api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).status_code == 201
    personal = hook_stack.client(hook_stack.key())
    assert personal.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).status_code == 201
    assert outbox(hook_stack, app.id) == []


def test_a_batch_delete_tells_one_image_deleted_per_image(
    hook_stack: Stack, receiver: Receiver
) -> None:
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    user_id = idf.connected_user(hook_stack, app)
    api = idf.act_as(hook_stack, app, user_id)
    ids = [
        api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).json()["id"]
        for _ in range(2)
    ]
    deleted = api.request("DELETE", "/v1/images/batch", json={"ids": [*ids, "gone0000"]})
    assert deleted.status_code == 200, deleted.text
    events = receiver.events(5)[3:]
    assert sorted(e["data"]["image"]["id"] for e in events) == sorted(ids)
    assert {e["type"] for e in events} == {"image.deleted"}
