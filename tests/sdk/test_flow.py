"""The SDK's happy paths against a real server: the hosted login with state and PKCE, acting for
the user (every images method, usage, billing), and API-key mode."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import imgpro_sdk
from imgpro_sdk import errors
from tests.billing.helpers import personal_workspace_id, set_plan
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make
from tests.sdk.conftest import SdkFactory, app_client, hosted_login, redirect_of

CALLBACK = idf.CALLBACK


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_login_url_carries_app_redirect_state_and_pkce(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    login = client.login_url(redirect_uri=CALLBACK)
    assert login.url.startswith(f"{stack.settings.web_url}/connect?")
    params = query(login.url)
    assert params["app"] == app.id and params["redirect_uri"] == CALLBACK
    assert params["state"] == login.state and len(login.state) >= 32
    assert params["code_challenge_method"] == "S256" and login.code_verifier
    assert "prompt" not in params
    again = client.login_url(redirect_uri=CALLBACK, prompt="none", pkce=False)
    assert query(again.url)["prompt"] == "none" and again.code_verifier is None
    assert again.state != login.state and "code_challenge" not in query(again.url)


def test_login_exchange_and_everything_a_user_can_do(
    sdk: SdkFactory, stack: Stack, tmp_path: Path, source: str
) -> None:
    app = idf.register_app(stack, name="Photo App")
    client = app_client(sdk, stack, app)
    email = idf.new_email()
    login = client.login_url(redirect_uri=CALLBACK)
    callback = hosted_login(stack, login.url, email)

    ctx = client.finish_login(
        callback, expected_state=login.state, code_verifier=login.code_verifier
    )
    assert (ctx.user.email, ctx.app.id, ctx.app.name) == (email, app.id, "Photo App")
    assert ctx.to_dict()["object"] == "auth_context"
    user = client.for_user(ctx.user.id)

    path = tmp_path / "boats.png"
    path.write_bytes(make.png(64, 48))
    from_path = user.images.upload(
        path, caption="Boats", labels={"site": "blog"}, metadata={"k": "v"}
    )
    assert (from_path.filename, from_path.caption, from_path.width) == ("boats.png", "Boats", 64)
    assert from_path.labels.site == "blog" and from_path.metadata.to_dict() == {"k": "v"}
    from_bytes = user.images.upload(make.png(30, 20), filename="a.png", labels={"site": "shop"})
    from_file = user.images.upload(io.BytesIO(make.jpeg(40, 30)), filename="c.jpg")
    imported = user.images.import_url(f"{source}/photo.jpg", caption="imported")
    assert (imported.format, imported.caption) == ("jpg", "imported")

    variant = httpx.get(from_path.transform(w=32, format="webp"))
    assert variant.status_code == 200 and variant.headers["content-type"] == "image/webp"
    assert from_path.transform(w=32, format="webp") == from_path.url + "?format=webp&w=32"
    assert from_path.sizes.s.url == from_path.url + "?size=s"

    blog = user.images.list(labels={"site": "blog"})
    assert [image.id for image in blog.data] == [from_path.id] and not blog.has_more
    first = user.images.list(limit=2)
    assert len(first) == 2 and first.has_more and first.next_cursor
    every = {image.id for image in user.images.iter(limit=2)}
    assert every == {from_path.id, from_bytes.id, from_file.id, imported.id}
    by_ids = user.images.list(ids=[from_file.id, "zzzzzzzz"])
    assert [image.id for image in by_ids] == [from_file.id]

    assert user.images.get(from_bytes.id).filename == "a.png"
    changed = user.images.update(from_path.id, caption="Harbour", labels={"site": "news"})
    assert (changed.caption, changed.labels.to_dict()) == ("Harbour", {"site": "news"})
    cleared = user.images.update(from_path.id, caption=None)
    assert cleared.caption is None and cleared.labels.site == "news"

    usage = user.usage()
    assert usage.object == "usage" and usage.totals.images_stored == 4
    assert usage.limits.monthly_uploads.used == 4

    deleted = user.images.delete(from_file.id)
    assert (deleted.id, deleted.deleted) == (from_file.id, True)
    assert httpx.get(from_file.url).status_code == 404
    batch = user.images.delete_many([from_bytes.id, imported.id])
    assert batch.object == "batch_result" and not batch.errors
    assert [image.id for image in user.images.iter()] == [from_path.id]

    status = user.billing.status()
    assert status.plan == "free" and status.manage_url.startswith(stack.settings.web_url)
    assert {plan.id for plan in status.available_plans} >= {"pro", "scale", "max"}
    checkout = user.billing.checkout("pro", "monthly", return_url="https://app.example/done")
    assert checkout.checkout_url.startswith(stack.settings.web_url)


def test_finish_login_accepts_a_bare_query_or_a_mapping(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    for shape in ("query", "mapping"):
        login = client.login_url(redirect_uri=CALLBACK, pkce=False)
        callback = hosted_login(stack, login.url, idf.new_email())
        given = urlsplit(callback).query if shape == "query" else query(callback)
        ctx = client.finish_login(given, expected_state=login.state)
        assert ctx.app.id == app.id


def test_prompt_none_returns_silently_for_a_connected_user(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    email = idf.new_email()
    browser, _ = idf.run_connect(stack, app, email)
    login = client.login_url(redirect_uri=CALLBACK, prompt="none")
    silent = browser.get(login.url)
    assert silent.status_code == 303
    ctx = client.finish_login(
        silent.headers["location"],
        expected_state=login.state,
        code_verifier=login.code_verifier,
    )
    assert ctx.user.email == email


def test_interaction_required_and_canceled_and_state_mismatch(
    sdk: SdkFactory, stack: Stack
) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    silent = client.login_url(redirect_uri=CALLBACK, prompt="none")
    with pytest.raises(errors.InteractionRequired) as caught:
        client.finish_login(redirect_of(silent.url), expected_state=silent.state)
    assert caught.value.code == "interaction_required"

    login = client.login_url(redirect_uri=CALLBACK)
    denied = hosted_login(stack, login.url, idf.new_email(), decision="deny")
    with pytest.raises(errors.LoginCanceled):
        client.finish_login(denied, expected_state=login.state)

    login = client.login_url(redirect_uri=CALLBACK)
    callback = hosted_login(stack, login.url, idf.new_email())
    with pytest.raises(errors.StateMismatch):
        client.finish_login(callback, expected_state="another visitor's state")
    # the mismatch stopped before the exchange: the code still works once
    assert client.exchange(query(callback)["code"], login.code_verifier).app.id == app.id


def test_api_key_mode_has_the_same_images_usage_and_billing(sdk: SdkFactory, stack: Stack) -> None:
    person = stack.user()
    personal = sdk(api_key=stack.key(person), api_url=stack.base_url)
    image = personal.images.upload(make.png(20, 20), filename="p.png", public=False)
    assert image.public is False
    assert [found.id for found in personal.images.list().data] == [image.id]
    assert personal.usage().totals.images_stored == 1
    assert personal.billing.status().plan == "free"
    set_plan(stack, personal_workspace_id(stack, person), "pro")
    assert personal.billing.status().plan == "pro"


def test_the_secret_never_shows_in_repr_or_errors(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    assert app.secret not in repr(client) and app.id in repr(client)
    with pytest.raises(errors.ImgProError) as caught:
        client.for_user("zzzzzzzz").usage()
    assert app.secret not in str(caught.value) and app.secret not in repr(caught.value)
    keyed = sdk(api_key="img_live_" + "x" * 32, api_url=stack.base_url)
    assert "img_live_" not in repr(keyed)


def test_settings_fall_back_to_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = idf.register_app(stack)
    monkeypatch.setenv("IMGPRO_SECRET", app.secret)
    monkeypatch.setenv("IMGPRO_APP_ID", app.id)
    monkeypatch.setenv("IMGPRO_API_URL", stack.base_url)
    monkeypatch.setenv("IMGPRO_WEB_URL", stack.settings.web_url)
    with imgpro_sdk.ImgPro() as client:
        assert client.app_id == app.id
        assert client.login_url(CALLBACK).url.startswith(stack.settings.web_url + "/connect?")
        with pytest.raises(errors.UserForbidden):
            client.for_user("zzzzzzzz").usage()
