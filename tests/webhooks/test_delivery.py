"""Delivery: retries on the (scaled-down) schedule with the same webhook-id and body, a final
"failed", the address policy of URL imports, the App page and the CLI."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from imgpro.cli import app as cli_app
from imgpro.db.base import utcnow
from imgpro.runtime import Runtime
from imgpro.webhooks import service as webhooks
from imgpro.webhooks.tables import WebhookMessage
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make
from tests.webhooks.conftest import Receiver, body_of, outbox, point_app_at


def upload_as_user(stack: Stack, app: idf.RegisteredApp) -> dict:
    user_id = idf.connected_user(stack, app)
    response = idf.act_as(stack, app, user_id).post(
        "/v1/images", files={"file": ("a.png", make.png(8, 8))}
    )
    assert response.status_code == 201
    return dict(response.json())


def wait_until(check, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_receiver_failing_twice_gets_the_same_event_a_third_time(
    hook_stack: Stack, receiver: Receiver
) -> None:
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    receiver.answers = [204, 500, 503]  # user.connected passes; image.created fails twice
    upload_as_user(hook_stack, app)
    connected, *attempts = receiver.wait_for(4)
    assert [body_of(a)["type"] for a in attempts] == ["image.created"] * 3
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    assert attempts[0].headers["webhook-id"] != connected.headers["webhook-id"]
    # the schedule's waits (0.2 s, then 0.4 s) separate the attempts
    assert attempts[1].received - attempts[0].received >= 0.2
    assert attempts[2].received - attempts[1].received >= 0.4
    created = wait_until(
        lambda: (
            len(done := [m for m in outbox(hook_stack, app.id) if m["status"] == "delivered"]) == 2
            and done
        )
    )
    assert {m["type"]: m["attempts"] for m in created} == {"image.created": 3, "user.connected": 1}


def test_after_the_last_retry_the_event_is_failed(hook_stack: Stack, receiver: Receiver) -> None:
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    receiver.answers = [500, 500, 500, 500]
    idf.connected_user(hook_stack, app)
    [message] = wait_until(
        lambda: [m for m in outbox(hook_stack, app.id) if m["status"] == "failed"]
    )
    assert message["attempts"] == 3  # the first attempt and one per retry
    time.sleep(0.5)  # no fourth attempt
    assert len(receiver.deliveries) == 3


def test_endpoints_follow_the_url_import_address_policy(hook_stack: Stack) -> None:
    app = idf.register_app(hook_stack)
    for url in (
        "http://127.0.0.1:9/hooks",
        "http://10.1.2.3/hooks",
        "http://[::1]/hooks",
        "http://169.254.169.254/latest",
        "ftp://example.com/hooks",
    ):

        async def work(rt: Runtime, url: str = url) -> str:
            async with rt.sessions() as db:
                try:
                    await webhooks.set_endpoint(db, rt.settings, app.id, url)
                except Exception as error:  # noqa: BLE001 - the refusal's code is the point
                    return str(getattr(error, "code", error))
            return "accepted"

        assert hook_stack.run(work) == "validation_error", url


def test_an_endpoint_that_later_resolves_to_a_private_address_is_not_called(
    hook_stack: Stack, receiver: Receiver
) -> None:
    """Checked again at each attempt: here the endpoint's host stops being allowed."""
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    allowed = hook_stack.settings.import_allow_networks
    hook_stack.settings.import_allow_networks = []
    try:
        idf.connected_user(hook_stack, app)
        [message] = wait_until(lambda: outbox(hook_stack, app.id))
        wait_until(lambda: outbox(hook_stack, app.id)[0]["attempts"] >= 1)
    finally:
        hook_stack.settings.import_allow_networks = allowed
    assert receiver.deliveries == []
    assert message["type"] == "user.connected"


def test_the_app_page_sets_the_endpoint_tests_it_rotates_and_lists_deliveries(
    hook_stack: Stack, receiver: Receiver
) -> None:
    app = idf.register_app(hook_stack)
    browser = hook_stack.client()
    idf.sign_in(hook_stack, browser, app.owner.email)
    page = f"/dashboard/apps/{app.id}"

    refused = browser.post(
        f"{page}/webhook",
        data={"csrf_token": idf.csrf_of(browser.get(page).text), "url": "http://127.0.0.1/x"},
    )
    assert refused.status_code == 422 and "private or reserved address" in refused.text

    saved = browser.post(
        f"{page}/webhook",
        data={"csrf_token": idf.csrf_of(browser.get(page).text), "url": receiver.url},
    )
    assert saved.status_code == 200 and "shown only once" in saved.text
    secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', saved.text).group(1)  # type: ignore[union-attr]
    receiver.secret = secret

    tested = browser.post(
        f"{page}/webhook/test", data={"csrf_token": idf.csrf_of(browser.get(page).text)}
    )
    assert tested.status_code == 303
    [test] = receiver.events(1)
    assert test["type"] == "webhook.test"

    rotated = browser.post(
        f"{page}/webhook/rotate", data={"csrf_token": idf.csrf_of(browser.get(page).text)}
    )
    new_secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', rotated.text).group(1)  # type: ignore[union-attr]
    assert new_secret != secret and "whsec_" not in browser.get(page).text
    receiver.secret = new_secret  # the old secret would now fail verification
    browser.post(f"{page}/webhook/test", data={"csrf_token": idf.csrf_of(browser.get(page).text)})
    assert len(receiver.events(2)) == 2

    listed = wait_until(lambda: (text := browser.get(page).text).count("delivered") >= 2 and text)
    rows = re.findall(r'<tr class="delivery">(.*?)</tr>', listed, re.S)
    assert len(rows) == 2 and all("webhook.test" in row and ">1<" in row for row in rows)

    removed = browser.post(
        f"{page}/webhook", data={"csrf_token": idf.csrf_of(browser.get(page).text), "url": ""}
    )
    assert removed.status_code == 303
    assert "Send test event" not in browser.get(page).text


def test_only_the_owner_manages_an_app_s_webhooks(hook_stack: Stack) -> None:
    app = idf.register_app(hook_stack)
    stranger = hook_stack.client()
    idf.sign_in(hook_stack, stranger, hook_stack.user("pro").email)
    token = idf.csrf_of(stranger.get("/dashboard/apps").text)
    for path in ("webhook", "webhook/test", "webhook/rotate"):
        response = stranger.post(
            f"/dashboard/apps/{app.id}/{path}",
            data={"csrf_token": token, "url": "http://x.example"},
        )
        assert response.status_code == 404, path


def test_set_webhook_on_the_command_line(hook_stack: Stack, receiver: Receiver) -> None:
    app = idf.register_app(hook_stack)
    env = {
        "IMGPRO_DATA_DIR": str(hook_stack.settings.data_dir),
        "IMGPRO_DATABASE_URL": hook_stack.settings.database_url,
        "IMGPRO_IMPORT_ALLOW_NETWORKS": json.dumps(hook_stack.settings.import_allow_networks),
    }

    def run(*args: str, code: int = 0) -> dict:
        result = CliRunner().invoke(
            cli_app, ["admin", "app", "set-webhook", *args, "--json"], env=env
        )
        assert result.exit_code == code, result.output
        return dict(json.loads(result.output))

    made = run(app.id, "--url", receiver.url)
    assert made["url"] == receiver.url and made["secret"].startswith("whsec_")
    assert run(app.id, "--url", receiver.url + "?v=2") == {
        "url": receiver.url + "?v=2",
        "secret": None,
    }
    rotated = run(app.id, "--url", receiver.url, "--rotate-secret")
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert run(app.id, "--url", "") == {"url": "", "secret": None}
    refused = run(app.id, "--url", "http://192.168.1.1/", code=1)
    assert refused["error"]["code"] == "validation_error"
    assert run("nosuchap", "--url", receiver.url, code=1)["error"]["code"] == "not_found"


def test_the_daily_sweep_forgets_messages_sent_over_30_days_ago(
    hook_stack: Stack, receiver: Receiver
) -> None:
    app = idf.register_app(hook_stack)
    point_app_at(hook_stack, app, receiver)
    idf.connected_user(hook_stack, app)
    idf.connected_user(hook_stack, app)
    new, old = wait_until(  # newest first
        lambda: (
            len(done := [m for m in outbox(hook_stack, app.id) if m["status"] == "delivered"]) == 2
            and done
        )
    )

    async def age(rt: Runtime) -> None:
        async with rt.sessions() as db:
            when = utcnow() - timedelta(days=31)
            await db.execute(
                update(WebhookMessage).where(WebhookMessage.id == old["id"]).values(created_at=when)
            )
            await db.commit()

    hook_stack.run(age)
    env = {"IMGPRO_DATA_DIR": str(hook_stack.settings.data_dir)}
    env["IMGPRO_DATABASE_URL"] = hook_stack.settings.database_url
    swept = CliRunner().invoke(cli_app, ["admin", "sweep", "--json"], env=env)
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.output)["webhook_messages"] >= 1
    assert [m["id"] for m in outbox(hook_stack, app.id)] == [new["id"]]
