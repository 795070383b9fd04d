"""Request plumbing: a 500 is an envelope with a request id in the log, never a traceback; the
surfaces are picked by host or by path."""

from __future__ import annotations

import json

import httpx
import pytest
import structlog
from starlette.types import Receive, Scope, Send

from imgpro.app import Surfaces
from imgpro.http import RequestContext
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from tests.conftest import Stack


async def exploding_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


async def test_an_unexpected_exception_is_a_500_envelope_and_a_log_line() -> None:
    transport = httpx.ASGITransport(app=RequestContext(exploding_app))
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            response = await client.get("/anything", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "type": "api_error",
            "code": "api_error",
            "message": "Something went wrong on our side.",
        }
    }
    assert "boom" not in response.text
    assert response.headers["x-request-id"] == "req-42"
    failures = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert failures and failures[0]["log_level"] == "error"


def tag(name: str):  # an ASGI app that answers its name and the path it routes on
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        root, path = scope.get("root_path", ""), scope["path"]  # ASGI: the path holds the root
        assert path.startswith(root)
        body = json.dumps({"surface": name, "path": path[len(root) :]}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def surfaces(tmp_path, **urls: str) -> Surfaces:
    runtime = Runtime.build(Settings(data_dir=tmp_path, **urls))
    return Surfaces(runtime, tag("web"), tag("api"), tag("cdn"))


@pytest.mark.parametrize(
    "path, surface, seen",
    [
        ("/v1/images", "api", "/v1/images"),
        ("/openapi.json", "api", "/openapi.json"),
        ("/src/abc/abcdefgh.jpg", "cdn", "/abc/abcdefgh.jpg"),
        ("/src/src/abcdefgh.jpg", "cdn", "/src/abcdefgh.jpg"),  # a shard named like the prefix
        ("/abcdefgh", "web", "/abcdefgh"),
        ("/connect", "web", "/connect"),
        ("/srcx", "web", "/srcx"),
    ],
)
async def test_one_origin_routes_by_path(tmp_path, path: str, surface: str, seen: str) -> None:
    app = surfaces(tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        assert (await client.get(path)).json() == {"surface": surface, "path": seen}


@pytest.mark.parametrize(
    "host, path, surface",
    [
        ("api.example", "/v1/images", "api"),
        ("src.example", "/abc/abcdefgh.jpg", "cdn"),
        ("example", "/abcdefgh", "web"),
        ("example", "/v1/images", "web"),
        ("src.example", "/v1/images", "cdn"),
    ],
)
async def test_distinct_hosts_route_by_host(tmp_path, host: str, path: str, surface: str) -> None:
    app = surfaces(
        tmp_path,
        web_url="https://example",
        api_url="https://api.example",
        cdn_url="https://src.example",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"https://{host}"
    ) as client:
        assert (await client.get(path)).json()["surface"] == surface


def app_with_a_failing_route(tmp_path) -> tuple[object, Runtime]:  # type: ignore[no-untyped-def]
    from imgpro.app import build_api, build_web

    runtime = Runtime.build(Settings(data_dir=tmp_path))
    api, web = build_api(runtime), build_web(runtime)

    async def fail() -> None:
        raise RuntimeError("secret internals")

    api.add_api_route("/v1/fail", fail)
    web.add_api_route("/fail", fail)
    web.router.routes.insert(0, web.router.routes.pop())  # before the viewer's catch-all
    return RequestContext(Surfaces(runtime, web, api, tag("cdn"))), runtime


async def test_a_failing_route_answers_an_envelope_on_the_api_and_a_page_on_the_web(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    app, runtime = app_with_a_failing_route(tmp_path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        api = await client.get("/v1/fail")
        web = await client.get("/fail")
    await runtime.close()
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "api_error"
    assert web.status_code == 500 and "Something went wrong" in web.text
    assert "secret internals" not in api.text + web.text


async def test_production_refuses_to_start_on_development_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = Runtime.build(Settings(data_dir=tmp_path, env="production"))
    app = Surfaces(runtime, tag("web"), tag("api"), tag("cdn"))
    sent: list[dict] = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive():  # type: ignore[no-untyped-def]
        return next(messages)

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    with structlog.testing.capture_logs():
        await app({"type": "lifespan"}, receive, send)
    await runtime.close()
    assert sent[0]["type"] == "lifespan.startup.failed"
    for problem in ("MAIL_URL", "BILLING_PROVIDER", "SECRET_KEY", "WEB_URL"):
        assert "IMGPRO_" + problem in sent[0]["message"]


def test_production_settings_with_real_services_have_no_problems(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path,
        env="production",
        mail_url="smtp://mail.example:25",
        billing_provider="stripe",
        stripe_secret_key="sk_live_x",
        stripe_webhook_secret="whsec_x",
        secret_key="x" * 48,
        web_url="https://img.example",
        api_url="https://api.img.example",
        cdn_url="https://src.img.example",
    )
    assert settings.production_problems() == []


def test_production_refuses_a_short_secret_and_a_plain_http_web_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path,
        env="production",
        mail_url="smtp://mail.example:25",
        billing_provider="stripe",
        stripe_secret_key="sk_live_x",
        stripe_webhook_secret="whsec_x",
        secret_key="short",
        web_url="http://img.example",
    )
    problems = " ".join(settings.production_problems())
    assert "IMGPRO_SECRET_KEY" in problems and "32" in problems
    assert "IMGPRO_WEB_URL" in problems and "https" in problems


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/v1/images", {"GET", "POST"}),  # api
        ("POST", "/v1/usage", {"GET"}),
        ("POST", "/src/abc/abcdefgh.jpg", {"GET", "HEAD"}),  # cdn
        ("DELETE", "/signin", {"GET", "POST"}),  # web
    ],
)
def test_a_405_says_which_methods_are_allowed(
    stack: Stack, method: str, path: str, allowed: set[str]
) -> None:
    response = stack.client().request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= allowed
