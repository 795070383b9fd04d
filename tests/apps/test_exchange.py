"""POST /v1/auth/exchange: check order, single use, expiry, app binding, PKCE."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from imgpro.apps.tables import ConnectCode
from imgpro.db.base import utcnow
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf


def _code(stack: Stack, app: idf.RegisteredApp, **params: str) -> str:
    _client, query = idf.run_connect(stack, app, idf.new_email(), **params)
    return query["code"]


def _error(response: object) -> tuple[int, str]:
    status = response.status_code  # type: ignore[attr-defined]
    return status, response.json()["error"]["code"]  # type: ignore[attr-defined]


def test_check_order_secret_suspended_body_code(stack: Stack) -> None:
    app = idf.register_app(stack)
    assert _error(idf.exchange(stack, "img_sk_live_" + "x" * 32, {})) == (401, "unauthorized")
    assert _error(idf.exchange(stack, stack.key(), {"code": "x"})) == (401, "unauthorized")
    no_auth = stack.client().post("/v1/auth/exchange", json={"code": "x"})
    assert _error(no_auth) == (401, "unauthorized")
    assert _error(idf.exchange(stack, app.secret, {})) == (422, "validation_error")
    assert _error(idf.exchange(stack, app.secret, {"code": 5})) == (422, "validation_error")
    extra = idf.exchange(stack, app.secret, {"code": "x", "scope": "all"})
    assert _error(extra) == (422, "validation_error")
    assert _error(idf.exchange(stack, app.secret, {"code": "nope"})) == (422, "invalid_code")
    idf.suspend(stack, app.id)
    assert _error(idf.exchange(stack, app.secret, {})) == (403, "app_suspended")
    idf.suspend(stack, app.id, "active")


def test_a_code_works_once(stack: Stack) -> None:
    app = idf.register_app(stack)
    code = _code(stack, app)
    assert idf.exchange(stack, app.secret, {"code": code}).status_code == 200
    assert _error(idf.exchange(stack, app.secret, {"code": code})) == (422, "invalid_code")


def test_an_expired_code_is_refused(stack: Stack) -> None:
    app = idf.register_app(stack)
    code = _code(stack, app)

    async def expire(rt: Runtime) -> None:
        async with rt.sessions() as db:
            await db.execute(
                update(ConnectCode)
                .where(ConnectCode.app_id == app.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await db.commit()

    stack.run(expire)
    assert _error(idf.exchange(stack, app.secret, {"code": code})) == (422, "invalid_code")


def test_another_apps_secret_cannot_use_the_code(stack: Stack) -> None:
    app = idf.register_app(stack)
    other = idf.register_app(stack, name="Thief")
    code = _code(stack, app)
    assert _error(idf.exchange(stack, other.secret, {"code": code})) == (422, "invalid_code")
    assert idf.exchange(stack, app.secret, {"code": code}).status_code == 200


def test_pkce(stack: Stack) -> None:
    app = idf.register_app(stack)
    verifier, challenge = idf.pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}

    code = _code(stack, app, **pkce)
    ok = idf.exchange(stack, app.secret, {"code": code, "code_verifier": verifier})
    assert ok.status_code == 200, ok.text

    missing = _code(stack, app, **pkce)
    assert _error(idf.exchange(stack, app.secret, {"code": missing})) == (422, "invalid_code")

    wrong = _code(stack, app, **pkce)
    other_verifier, _ = idf.pkce_pair()
    body = {"code": wrong, "code_verifier": other_verifier}
    assert _error(idf.exchange(stack, app.secret, body)) == (422, "invalid_code")

    plain = _code(stack, app)
    body = {"code": plain, "code_verifier": verifier}
    assert _error(idf.exchange(stack, app.secret, body)) == (422, "invalid_code")


def test_rotated_secret_stops_the_old_one(stack: Stack) -> None:
    from imgpro.apps import service as apps

    app = idf.register_app(stack)

    async def rotate(rt: Runtime) -> str:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app.id)
            assert found is not None
            return (await apps.rotate_secret(db, found)).secret

    new_secret = stack.run(rotate)
    code = _code(stack, app)
    assert _error(idf.exchange(stack, app.secret, {"code": code})) == (401, "unauthorized")
    assert idf.exchange(stack, new_secret, {"code": code}).status_code == 200
