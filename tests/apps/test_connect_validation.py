"""`/connect` refusals (error pages, never redirects), cancel, prompt=none, page headers."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest

from imgpro.apps import service as apps
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf


def _verify(stack: Stack, app_id: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app_id)
            assert found is not None
            await apps.set_verified(db, found, True)

    stack.run(work)


def _refused(stack: Stack, query: dict[str, str], status: int = 400) -> str:
    response = stack.client().get("/connect?" + urlencode(query))
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_pages_refuse_framing_and_send_no_referrer(stack: Stack) -> None:
    app = idf.register_app(stack)
    response = stack.client().get(idf.connect_url(app))
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "Account &amp; images secured by img.pro" in response.text
    assert "<svg" in response.text  # the globe mark
    refused = stack.client().get("/connect")
    assert refused.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]


def test_missing_or_unknown_app(stack: Stack) -> None:
    _refused(stack, {"redirect_uri": idf.CALLBACK})
    _refused(stack, {"app": "zzzzzzzz", "redirect_uri": idf.CALLBACK})
    _refused(stack, {"app": "../../x", "redirect_uri": idf.CALLBACK})


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "",
        idf.CALLBACK + "/",
        idf.CALLBACK + "?x=1",
        idf.CALLBACK.upper(),
        "https://APP.example/auth/callback",
        idf.CALLBACK + "#frag",
        "javascript:alert(1)",
        "https://app.example@evil.example/auth/callback",
        "https://app.example/auth/%63allback",
        "https://app.example/auth/callback?code=abc&state=x",
        "https://evil.example/auth/callback",
    ],
)
def test_redirect_uri_must_match_byte_for_byte(stack: Stack, redirect_uri: str) -> None:
    app = idf.register_app(stack)
    text = _refused(stack, {"app": app.id, "redirect_uri": redirect_uri})
    assert "evil.example" not in text or "redirect_uri" in text


def test_state_up_to_512_characters(stack: Stack) -> None:
    app = idf.register_app(stack)
    ok = stack.client().get(idf.connect_url(app, state="s" * 512))
    assert ok.status_code == 200
    text = _refused(stack, {"app": app.id, "redirect_uri": idf.CALLBACK, "state": "s" * 513})
    assert "512" in text


def test_prompt_other_than_none_and_repeated_parameters(stack: Stack) -> None:
    app = idf.register_app(stack)
    _refused(stack, {"app": app.id, "redirect_uri": idf.CALLBACK, "prompt": "login"})
    twice = stack.client().get(f"/connect?app={app.id}&app={app.id}&redirect_uri={idf.CALLBACK}")
    assert twice.status_code == 400 and "location" not in twice.headers


def test_pkce_parameters_are_checked(stack: Stack) -> None:
    app = idf.register_app(stack)
    _verifier, challenge = idf.pkce_pair()
    base = {"app": app.id, "redirect_uri": idf.CALLBACK}
    _refused(stack, {**base, "code_challenge": challenge, "code_challenge_method": "plain"})
    _refused(stack, {**base, "code_challenge": challenge})
    _refused(stack, {**base, "code_challenge": "short", "code_challenge_method": "S256"})
    _refused(stack, {**base, "code_challenge_method": "S256"})
    ok = stack.client().get(
        "/connect?"
        + urlencode({**base, "code_challenge": challenge, "code_challenge_method": "S256"})
    )
    assert ok.status_code == 200


def test_suspended_app_gets_403_page(stack: Stack) -> None:
    app = idf.register_app(stack)
    idf.suspend(stack, app.id)
    _refused(stack, {"app": app.id, "redirect_uri": idf.CALLBACK}, 403)
    idf.suspend(stack, app.id, "active")
    assert stack.client().get(idf.connect_url(app)).status_code == 200


def test_cancel_returns_access_denied_with_state(stack: Stack) -> None:
    app = idf.register_app(stack)
    client = stack.client()
    page = client.get(idf.connect_url(app, state="st8"))
    response = client.post("/connect/cancel", data=idf.hidden_fields(page.text))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(idf.CALLBACK + "?")
    assert idf.query_of(location) == {"error": "access_denied", "state": "st8"}


def test_deny_on_the_consent_screen_connects_nothing(stack: Stack) -> None:
    app = idf.register_app(stack)
    email = idf.new_email()
    client, _ = idf.run_connect(stack, app, email)  # signs the browser in
    other = idf.register_app(stack, name="Second App")
    page = client.get(idf.connect_url(other, state="q"))
    denied = client.post(
        "/connect/consent", data={**idf.hidden_fields(page.text), "decision": "deny"}
    )
    assert idf.query_of(denied.headers["location"]) == {"error": "access_denied", "state": "q"}
    silent = client.get(idf.connect_url(other, prompt="none"))
    assert idf.query_of(silent.headers["location"])["error"] == "interaction_required"


def test_prompt_none(stack: Stack) -> None:
    app = idf.register_app(stack)
    fresh = stack.client().get(idf.connect_url(app, prompt="none", state="a1"))
    assert fresh.status_code == 303
    assert idf.query_of(fresh.headers["location"]) == {
        "error": "interaction_required",
        "state": "a1",
    }
    client, _ = idf.run_connect(stack, app, idf.new_email())
    silent = client.get(idf.connect_url(app, prompt="none", state="a2"))
    assert silent.status_code == 303
    query = idf.query_of(silent.headers["location"])
    assert set(query) == {"code", "state"} and query["state"] == "a2"
    assert idf.exchange(stack, app.secret, {"code": query["code"]}).status_code == 200


def test_consent_shows_name_badge_and_account(stack: Stack) -> None:
    app = idf.register_app(stack, name="Badge Check")
    email = idf.new_email()
    client = stack.client()
    idf.sign_in(stack, client, email)
    page = client.get(idf.connect_url(app))
    assert "Connect Badge Check to img.pro?" in page.text
    assert email in page.text and "Use another account" in page.text
    assert "✓ Verified" not in page.text
    _verify(stack, app.id)
    assert "✓ Verified" in client.get(idf.connect_url(app)).text


def test_use_another_account_signs_out(stack: Stack) -> None:
    app = idf.register_app(stack)
    client = stack.client()
    idf.sign_in(stack, client, idf.new_email())
    page = client.get(idf.connect_url(app))
    switched = client.post("/connect/switch", data=idf.hidden_fields(page.text))
    assert switched.status_code == 303
    again = client.get(switched.headers["location"])
    assert 'name="email"' in again.text and "Continue as" not in again.text


def _normalised(html: str, email: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    return html.replace(email, "EMAIL")


def test_email_step_answers_the_same_for_known_and_unknown_addresses(stack: Stack) -> None:
    app = idf.register_app(stack)
    known = stack.user().email
    unknown = idf.new_email()
    answers = []
    for email in (known, unknown):
        client = stack.client()
        page = client.get(idf.connect_url(app))
        sent = client.post("/connect/email", data={**idf.hidden_fields(page.text), "email": email})
        answers.append((sent.status_code, _normalised(sent.text, email)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200


def test_stale_consent_form_after_sign_out_asks_again(stack: Stack) -> None:
    app = idf.register_app(stack)
    client = stack.client()
    idf.sign_in(stack, client, idf.new_email())
    page = client.get(idf.connect_url(app))
    fields = idf.hidden_fields(page.text)
    client.post("/signout", data={"csrf_token": fields["csrf_token"]})
    response = client.post("/connect/consent", data={**fields, "decision": "allow"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connect?")


def test_a_mismatch_shows_what_was_received_escaped_and_the_registered_ones_to_the_owner(
    stack: Stack,
) -> None:
    owner = stack.user("pro")
    app = idf.register_app(stack, owner=owner, name="Demo Gallery")
    received = 'https://elsewhere.example/cb?x="><script>alert(1)</script>'
    query = {"app": app.id, "redirect_uri": received}
    text = _refused(stack, query)
    assert "Demo Gallery sent you to an address it hasn&#39;t registered" in text
    shown = html.unescape(re.search(r"<pre class=\"wrap\"><code>(.*?)</code>", text).group(1))  # type: ignore[union-attr]
    assert shown == received and "<script>alert(1)" not in text
    assert idf.CALLBACK not in text  # a visitor does not learn the registered addresses
    stranger = stack.client()
    idf.sign_in(stack, stranger, stack.user().email)
    assert idf.CALLBACK not in stranger.get("/connect?" + urlencode(query)).text
    owner_client = stack.client()
    idf.sign_in(stack, owner_client, owner.email)
    as_owner = owner_client.get("/connect?" + urlencode(query))
    assert as_owner.status_code == 400
    assert "You own this app" in as_owner.text and f"<code>{idf.CALLBACK}</code>" in as_owner.text


def test_the_consent_screen_says_plainly_when_an_app_is_not_verified(stack: Stack) -> None:
    app = idf.register_app(stack, name="Demo Gallery")
    client = stack.client()
    idf.sign_in(stack, client, stack.user().email)
    consent = client.get(idf.connect_url(app)).text
    assert "Connect Demo Gallery to img.pro?" in consent  # apps.md §3, word for word
    assert "Demo Gallery is not verified." in consent and "Not verified" in consent
    _verify(stack, app.id)
    verified = client.get(idf.connect_url(app)).text
    assert "✓ Verified" in verified and "not verified" not in verified.lower()
