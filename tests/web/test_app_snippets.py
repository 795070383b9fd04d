"""The Apps page hands the developer what they paste: the button in every variant with this
app's connect URL, copy buttons for the id and the once-shown secret, the docs link."""

from __future__ import annotations

import re
from html import unescape

from imgpro.web import brand
from tests.conftest import Stack
from tests.factories import identity as idf


def owner_client(stack: Stack) -> tuple[idf.RegisteredApp, object]:
    owner = stack.user("pro")
    app = idf.register_app(
        stack, owner=owner, redirect_uris=["http://localhost:3000/callback", idf.CALLBACK]
    )
    client = stack.client()
    idf.sign_in(stack, client, owner.email)
    return app, client


def test_each_variant_is_there_to_copy_with_this_apps_connect_url(stack: Stack) -> None:
    app, client = owner_client(stack)
    page = client.get(f"/dashboard/apps/{app.id}")  # type: ignore[attr-defined]
    assert page.status_code == 200
    url = brand.connect_url(stack.settings.web_url, app.id, "http://localhost:3000/callback")
    assert (
        f"app={app.id}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&state=YOUR_STATE"
        in url
    )
    to_copy = [unescape(code) for code in re.findall(r"<pre><code>(.*?)</code></pre>", page.text)]
    for variant in brand.VARIANTS:
        snippet = brand.button(url, variant)
        assert snippet in to_copy, variant  # the text to copy
        assert snippet in page.text, variant  # and its live preview
    assert "/static/copy.js" in page.text and 'data-copy="app-id"' in page.text
    assert f'href="{stack.settings.web_url}/api/app"' in page.text


def test_the_new_secret_has_copy_buttons_and_the_docs_link(stack: Stack) -> None:
    owner = stack.user("pro")
    client = stack.client()
    idf.sign_in(stack, client, owner.email)
    form = client.get("/dashboard/apps")
    shown = client.post(
        "/dashboard/apps",
        data={
            "csrf_token": idf.csrf_of(form.text),
            "name": "Snippet App",
            "redirect_uris": "http://localhost:3000/callback",
        },
    )
    assert shown.status_code == 200, shown.text
    assert "img_sk_live_" in shown.text
    assert 'data-copy="secret"' in shown.text and 'data-copy="app-id"' in shown.text
    assert f'href="{stack.settings.web_url}/api/app"' in shown.text


def test_a_new_api_key_has_a_copy_button(stack: Stack) -> None:
    person = stack.user()
    client = stack.client()
    idf.sign_in(stack, client, person.email)
    form = client.get("/dashboard/keys")
    created = client.post(
        "/dashboard/keys",
        data={"csrf_token": idf.csrf_of(form.text), "name": "blog", "read": "on"},
    )
    assert created.status_code == 200 and "img_live_" in created.text
    assert 'data-copy="new-key"' in created.text and "/static/copy.js" in created.text
