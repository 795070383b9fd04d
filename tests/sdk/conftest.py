"""The SDK against a real imgpro: every test runs with the blocking client and with the asyncio
client (driven through `Blocking`, so one test body covers both), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import imgpro_sdk
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.images.test_url_import import source  # noqa: F401 - the image source fixture


class Blocking:
    """Runs an AsyncImgPro (and what it hands out) on one event loop of its own, so a test can
    call it like the blocking client. Coroutines are awaited, async iterators collected."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return self._adapt(getattr(self._target, name))

    def _adapt(self, value: Any) -> Any:
        if inspect.iscoroutine(value):
            return self._adapt(self._loop.run_until_complete(value))
        if inspect.isasyncgen(value):
            return iter(self._loop.run_until_complete(_collect(value)))
        if callable(value) and not isinstance(value, type):
            return lambda *args, **kwargs: self._adapt(value(*args, **kwargs))
        if type(value).__module__.startswith("imgpro_sdk._async"):
            return Blocking(value, self._loop)
        return value

    def __repr__(self) -> str:
        return repr(self._target)


async def _collect(generator: Any) -> list[Any]:
    return [item async for item in generator]


SdkFactory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def sdk(request: pytest.FixtureRequest) -> Iterator[SdkFactory]:
    """`sdk(**kwargs)` → an ImgPro, or an AsyncImgPro behind `Blocking`. `sdk.waits` holds every
    pause the client took before a retry (instead of sleeping through it)."""
    waits: list[float] = []
    made: list[Any] = []
    loop = asyncio.new_event_loop()

    async def record(seconds: float) -> None:
        waits.append(seconds)

    def make(**kwargs: Any) -> Any:
        if request.param == "sync":
            client: Any = imgpro_sdk.ImgPro(sleep=waits.append, **kwargs)
        else:
            client = Blocking(imgpro_sdk.AsyncImgPro(sleep=record, **kwargs), loop)
        made.append(client)
        return client

    make.waits = waits  # type: ignore[attr-defined]
    make.kind = request.param  # type: ignore[attr-defined]
    make.run = loop.run_until_complete  # type: ignore[attr-defined]  # for the async client's loop
    yield make
    for client in made:
        client.close()
    loop.close()


def app_client(sdk: SdkFactory, stack: Stack, app: idf.RegisteredApp, **kwargs: Any) -> Any:
    return sdk(secret=app.secret, app_id=app.id, api_url=stack.base_url, **kwargs)


def hosted_login(stack: Stack, url: str, email: str, decision: str = "allow") -> str:
    """Follow a login URL through the hosted pages as a browser would; the callback URL."""
    browser = stack.client()
    page = browser.get(url)
    assert page.status_code == 200, page.text
    fields = idf.hidden_fields(page.text)
    sent = browser.post("/connect/email", data={**fields, "email": email})
    assert sent.status_code == 200, sent.text
    checked = browser.post(
        "/connect/code",
        data={**fields, "email": email, "code": idf.outbox_code(stack, email)},
    )
    assert checked.status_code == 303, checked.text
    consent = browser.get(checked.headers["location"])
    done = browser.post(
        "/connect/consent", data={**idf.hidden_fields(consent.text), "decision": decision}
    )
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def redirect_of(url: str) -> str:
    """Where a fresh browser is sent straight away (prompt=none without a session)."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    return str(response.headers["location"])
