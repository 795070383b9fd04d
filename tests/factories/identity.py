"""Arrange identity state for tests: sign in through the real pages (codes read from the dev
outbox or an SMTP sink), register apps, run the hosted login, exchange codes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from imgpro.accounts import service as accounts
from imgpro.apps import service as apps
from imgpro.billing.plans import catalogue
from imgpro.ids import new_id
from imgpro.keys import service as keys
from imgpro.mail.service import OUTBOX_FILE
from imgpro.runtime import Runtime
from tests.conftest import Person, Stack

CALLBACK = "https://app.example/auth/callback"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class RegisteredApp:
    id: str
    secret: str
    name: str
    owner: Person
    redirect_uris: list[str]


def new_email() -> str:
    return f"p{new_id()}@example.com"


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def outbox_code(stack: Stack, email: str) -> str:
    """The code of the newest sign-in mail to `email` in the development outbox."""
    path = stack.settings.data_dir / OUTBOX_FILE
    for line in reversed(path.read_text().splitlines()):
        mail = json.loads(line)
        if mail["to"] == email:
            match = _CODE.search(mail["subject"])
            assert match
            return match.group(1)
    raise AssertionError(f"no mail to {email}")


def register_app(
    stack: Stack,
    owner: Person | None = None,
    name: str = "Pixel Notes",
    redirect_uris: list[str] | None = None,
) -> RegisteredApp:
    owner = owner or stack.user("pro")
    uris = redirect_uris or [CALLBACK]

    async def work(rt: Runtime) -> RegisteredApp:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, owner.id)
            assert user is not None
            issued = await apps.register(
                db, user, name, uris, plans=catalogue(rt.settings), require_paid=False
            )
            return RegisteredApp(issued.app.id, issued.secret, name, owner, uris)

    return stack.run(work)


def connect_directly(stack: Stack, app: RegisteredApp, person: Person) -> None:
    """Record a consent through the service (what the consent page does)."""

    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app.id)
            user = await accounts.get_user(db, person.id)
            assert found is not None and user is not None
            await apps.connect(db, found, user)

    stack.run(work)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def connect_url(app: RegisteredApp, **params: str) -> str:
    query = {"app": app.id, "redirect_uri": app.redirect_uris[0], **params}
    return "/connect?" + urlencode(query)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def sign_in(stack: Stack, client: httpx.Client, email: str) -> None:
    """Sign `client` in on the web pages with the emailed code."""
    page = client.get("/signin")
    client.post("/signin", data={"csrf_token": csrf_of(page.text), "email": email, "next": "/"})
    response = client.post(
        "/signin/code",
        data={"csrf_token": csrf_of(page.text), "email": email, "code": outbox_code(stack, email)},
    )
    assert response.status_code == 303, response.text


def browser(stack: Stack) -> httpx.Client:
    return stack.client()


def run_connect(
    stack: Stack,
    app: RegisteredApp,
    email: str,
    client: httpx.Client | None = None,
    **params: str,
) -> tuple[httpx.Client, dict[str, str]]:
    """The hosted login end to end: email → code → consent → the callback's query."""
    client = client or stack.client()
    page = client.get(connect_url(app, **params))
    assert page.status_code == 200, page.text
    if "Continue as" not in page.text:
        fields = hidden_fields(page.text)
        sent = client.post("/connect/email", data={**fields, "email": email})
        assert sent.status_code == 200, sent.text
        checked = client.post(
            "/connect/code", data={**fields, "email": email, "code": outbox_code(stack, email)}
        )
        assert checked.status_code == 303, checked.text
        page = client.get(checked.headers["location"])
    assert f"Connect {app.name} to img.pro?" in page.text, page.text
    fields = hidden_fields(page.text)
    done = client.post("/connect/consent", data={**fields, "decision": "allow"})
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(app.redirect_uris[0] + "?")
    return client, query_of(location)


def exchange(stack: Stack, secret: str, body: object) -> httpx.Response:
    return stack.client(secret).post("/v1/auth/exchange", json=body)


def connected_user(stack: Stack, app: RegisteredApp, email: str | None = None) -> str:
    """A user connected to `app` through the hosted login and the exchange; their id."""
    _client, query = run_connect(stack, app, email or new_email())
    response = exchange(stack, app.secret, {"code": query["code"]})
    assert response.status_code == 200, response.text
    return str(response.json()["user"]["id"])


def act_as(stack: Stack, app: RegisteredApp, user_id: str) -> httpx.Client:
    return stack.client(app.secret, **{"X-Img-User": user_id})


def app_key(
    stack: Stack, app: RegisteredApp, access: str = "app", abilities: str = "read,write"
) -> str:
    """A key of `app` with this data access ("app": App storage only, or "app-wide")."""

    async def work(rt: Runtime) -> str:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app.id)
            assert found is not None
            issued = await apps.create_app_key(
                db, found, keys.parse_abilities(abilities), keys.parse_access(access), "test"
            )
            return issued.key

    return stack.run(work)


def suspend(stack: Stack, app_id: str, status: str = "suspended") -> None:
    """What `imgpro admin app suspend` does (`status="active"`: unsuspend)."""

    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app_id)
            assert found is not None
            await apps.set_status(db, found, status)

    stack.run(work)
