"""Email sign-in: codes (tries, reuse, expiry, other email, send limits), sessions, sign out."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import SignInCode, User, WebSession
from imgpro.db.base import utcnow
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf


def _start(stack: Stack, email: str) -> tuple[httpx.Client, str]:
    client = stack.client()
    page = client.get("/signin")
    token = idf.csrf_of(page.text)
    sent = client.post("/signin", data={"csrf_token": token, "email": email, "next": "/dashboard"})
    assert sent.status_code == 200 and "Check your email" in sent.text
    return client, token


def _submit(client: httpx.Client, token: str, email: str, code: str) -> httpx.Response:
    return client.post(
        "/signin/code",
        data={"csrf_token": token, "email": email, "code": code, "next": "/dashboard"},
    )


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _user_count(stack: Stack, email: str) -> int:
    async def work(rt: Runtime) -> int:
        async with rt.sessions() as db:
            return int(
                (await db.execute(select(func.count()).where(User.email == email))).scalar_one()
            )

    return stack.run(work)


def test_sign_in_creates_the_account_and_a_session(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)
    assert _user_count(stack, email) == 0
    response = _submit(client, token, email, idf.outbox_code(stack, email))
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=2592000" in cookie
    assert _user_count(stack, email) == 1
    assert client.get("/dashboard").status_code == 200


def test_five_wrong_codes_then_the_right_one_is_refused(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)
    code = idf.outbox_code(stack, email)
    for tries_left in (4, 3, 2, 1):
        wrong = _submit(client, token, email, _wrong(code))
        assert wrong.status_code == 422 and f"{tries_left} tr" in wrong.text
    fifth = _submit(client, token, email, _wrong(code))
    assert "Request a new code" in fifth.text
    right = _submit(client, token, email, code)
    assert right.status_code == 422 and "new code" in right.text
    assert _user_count(stack, email) == 0
    client.post("/signin", data={"csrf_token": token, "email": email})
    assert _submit(client, token, email, idf.outbox_code(stack, email)).status_code == 303


def test_a_code_works_once(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)
    code = idf.outbox_code(stack, email)
    assert _submit(client, token, email, code).status_code == 303
    again = _submit(stack.client(), token, email, code)
    assert again.status_code in (403, 422)  # another browser has no CSRF cookie either way
    client2, token2 = _start(stack, idf.new_email())
    reused = _submit(client2, token2, email, code)
    assert reused.status_code == 422


def test_an_expired_code_is_refused(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)

    async def expire(rt: Runtime) -> None:
        async with rt.sessions() as db:
            await db.execute(
                update(SignInCode)
                .where(SignInCode.email == email)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await db.commit()

    stack.run(expire)
    response = _submit(client, token, email, idf.outbox_code(stack, email))
    assert response.status_code == 422 and "expired" in response.text
    assert _user_count(stack, email) == 0


def test_a_code_for_another_email_is_refused(stack: Stack) -> None:
    mine, theirs = idf.new_email(), idf.new_email()
    client, token = _start(stack, mine)
    _start(stack, theirs)
    response = _submit(client, token, mine, idf.outbox_code(stack, theirs))
    assert response.status_code == 422
    assert _user_count(stack, mine) == 0 and _user_count(stack, theirs) == 0


def test_an_earlier_code_keeps_working_and_signing_in_retires_the_others(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)
    old = idf.outbox_code(stack, email)
    client.post("/signin", data={"csrf_token": token, "email": email})
    new = idf.outbox_code(stack, email)
    assert _submit(client, token, email, old).status_code == 303
    if old != new:
        assert _submit(client, token, email, new).status_code == 422


def test_at_most_five_codes_per_email_per_hour(stack: Stack) -> None:
    email = idf.new_email()
    client, token = _start(stack, email)
    for _ in range(4):
        assert client.post("/signin", data={"csrf_token": token, "email": email}).status_code == 200
    limited = client.post("/signin", data={"csrf_token": token, "email": email})
    assert limited.status_code == 429
    assert "Too many codes" in limited.text and "minute" in limited.text


def test_malformed_email_and_code(stack: Stack) -> None:
    client = stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    bad = client.post("/signin", data={"csrf_token": token, "email": "not-an-email"})
    assert bad.status_code == 422 and "valid email" in bad.text
    email = idf.new_email()
    client.post("/signin", data={"csrf_token": token, "email": email})
    short = _submit(client, token, email, "12ab")
    assert short.status_code == 422 and "6-digit" in short.text


def test_disabled_user_cannot_sign_in(stack: Stack) -> None:
    person = stack.user()

    async def disable(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, person.id)
            assert user is not None
            await accounts.set_status(db, user, "disabled")

    stack.run(disable)
    client, token = _start(stack, person.email)
    response = _submit(client, token, person.email, idf.outbox_code(stack, person.email))
    assert response.status_code == 422 and "disabled" in response.text


def test_sign_out_ends_the_server_side_session(stack: Stack) -> None:
    email = idf.new_email()
    client = stack.client()
    idf.sign_in(stack, client, email)
    session_cookie = client.cookies.get("imgpro_session")
    assert session_cookie
    token = idf.csrf_of(client.get("/dashboard").text)
    out = client.post("/signout", data={"csrf_token": token})
    assert out.status_code == 303
    replay = stack.client()
    replay.cookies.set("imgpro_session", session_cookie)
    response = replay.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")

    async def count(rt: Runtime) -> int:
        async with rt.sessions() as db:
            user = await accounts.find_user_by_email(db, email)
            assert user is not None
            query = select(func.count()).where(WebSession.user_id == user.id)
            return int((await db.execute(query)).scalar_one())

    assert stack.run(count) == 0


def test_dashboard_pages_need_a_session(stack: Stack) -> None:
    for path in ("/dashboard", "/dashboard/keys", "/dashboard/apps", "/dashboard/connections"):
        response = stack.client().get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=" + path.replace("/", "%2F")
