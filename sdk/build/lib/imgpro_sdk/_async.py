"""The asyncio client: `_sync`'s surface with `await` (and `async for` on `images.iter`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, Callable

import httpx

from . import _core
from ._core import UNSET, Call, Config, FileInput
from .models import AuthContext, Image, ImgProObject, LoginRequest, Page


class _AsyncTransport:
    def __init__(
        self,
        config: Config,
        http: httpx.AsyncClient | None,
        sleep: Callable[[float], Awaitable[Any]],
    ) -> None:
        self.config = config
        self.owns_http = http is None  # a client the caller passed in is theirs to close
        self.http = http or httpx.AsyncClient(timeout=config.timeout)
        self.sleep = sleep

    async def send(self, call: Call, user_id: str | None = None) -> Any:
        attempt = 0
        while True:
            try:
                response = await self.http.send(call.request(self.config, user_id))
                result = _core.answer(call, response)
            except httpx.TransportError as exc:
                result = _core.connection_error(exc)
            if not isinstance(result, Exception):
                return result
            wait = _core.retry_wait(result, attempt)
            if wait is None or attempt >= self.config.max_retries:
                raise result
            await self.sleep(wait)
            attempt += 1


class AsyncImages:
    def __init__(self, transport: _AsyncTransport, user_id: str | None) -> None:
        self._t = transport
        self._user = user_id

    async def upload(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        caption: str | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        public: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Image:
        call = _core.upload(file, filename, caption, labels, metadata, public, idempotency_key)
        return await self._t.send(call, self._user)  # type: ignore[no-any-return]

    async def import_url(
        self,
        url: str,
        *,
        caption: str | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Image:
        call = _core.import_url(url, caption, labels, metadata, idempotency_key)
        return await self._t.send(call, self._user)  # type: ignore[no-any-return]

    async def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        labels: Mapping[str, str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> Page:
        call = _core.list_images(limit, cursor, labels, ids)
        return await self._t.send(call, self._user)  # type: ignore[no-any-return]

    async def iter(
        self, *, labels: Mapping[str, str] | None = None, limit: int | None = None
    ) -> AsyncIterator[Image]:
        cursor: str | None = None
        while True:
            page = await self.list(limit=limit, cursor=cursor, labels=labels)
            for image in page.data:
                yield image
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get(self, image_id: str) -> Image:
        return await self._t.send(_core.get_image(image_id), self._user)  # type: ignore[no-any-return]

    async def update(
        self,
        image_id: str,
        *,
        caption: Any = UNSET,
        labels: Any = UNSET,
        metadata: Any = UNSET,
        public: Any = UNSET,
    ) -> Image:
        call = _core.update_image(image_id, caption, labels, metadata, public)
        return await self._t.send(call, self._user)  # type: ignore[no-any-return]

    async def delete(self, image_id: str) -> ImgProObject:
        return await self._t.send(_core.delete_image(image_id), self._user)  # type: ignore[no-any-return]

    async def delete_many(self, image_ids: Iterable[str]) -> ImgProObject:
        return await self._t.send(_core.delete_many(image_ids), self._user)  # type: ignore[no-any-return]


class AsyncBilling:
    def __init__(self, transport: _AsyncTransport, user_id: str | None) -> None:
        self._t = transport
        self._user = user_id

    async def status(self) -> ImgProObject:
        return await self._t.send(_core.billing_status(), self._user)  # type: ignore[no-any-return]

    async def checkout(
        self,
        plan: str,
        interval: str = "monthly",
        *,
        return_url: str,
        idempotency_key: str | None = None,
    ) -> ImgProObject:
        call = _core.checkout(plan, interval, return_url, idempotency_key)
        return await self._t.send(call, self._user)  # type: ignore[no-any-return]


class AsyncUser:
    def __init__(self, transport: _AsyncTransport, user_id: str) -> None:
        self.id = user_id
        self._t = transport
        self.images = AsyncImages(transport, user_id)
        self.billing = AsyncBilling(transport, user_id)

    async def usage(self) -> ImgProObject:
        return await self._t.send(_core.usage(), self.id)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"AsyncUser({self.id!r})"


class AsyncImgPro:
    """The asyncio client; the same arguments as ImgPro (`sleep` is a coroutine function)."""

    def __init__(
        self,
        secret: str | None = None,
        app_id: str | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        web_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._config = Config.build(secret, app_id, api_key, api_url, web_url, timeout, max_retries)
        self._t = _AsyncTransport(self._config, http_client, sleep)
        self.images = AsyncImages(self._t, None)
        self.billing = AsyncBilling(self._t, None)

    @property
    def app_id(self) -> str | None:
        return self._config.app_id

    def login_url(
        self,
        redirect_uri: str,
        *,
        prompt: str | None = None,
        pkce: bool = True,
        state: str | None = None,
    ) -> LoginRequest:
        return _core.login_url(self._config, redirect_uri, prompt, pkce, state)

    async def finish_login(
        self,
        callback: str | Mapping[str, Any],
        *,
        expected_state: str | None,
        code_verifier: str | None = None,
    ) -> AuthContext:
        return await self.exchange(_core.callback_code(callback, expected_state), code_verifier)

    async def exchange(self, code: str, code_verifier: str | None = None) -> AuthContext:
        return await self._t.send(_core.exchange(code, code_verifier))  # type: ignore[no-any-return]

    def for_user(self, user_id: str) -> AsyncUser:
        return AsyncUser(self._t, user_id)

    async def usage(self) -> ImgProObject:
        return await self._t.send(_core.usage())  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._t.owns_http:
            await self._t.http.aclose()

    async def __aenter__(self) -> AsyncImgPro:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return self._config.describe("AsyncImgPro")
