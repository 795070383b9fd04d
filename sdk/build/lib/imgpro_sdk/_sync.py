"""The blocking client. `_async` mirrors it method for method; both build their requests in
`_core`, so they cannot drift apart in what they send."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable

import httpx

from . import _core
from ._core import UNSET, Call, Config, FileInput
from .models import AuthContext, Image, ImgProObject, LoginRequest, Page


class _Transport:
    def __init__(
        self, config: Config, http: httpx.Client | None, sleep: Callable[[float], Any]
    ) -> None:
        self.config = config
        self.owns_http = http is None  # a client the caller passed in is theirs to close
        self.http = http or httpx.Client(timeout=config.timeout)
        self.sleep = sleep

    def send(self, call: Call, user_id: str | None = None) -> Any:
        attempt = 0
        while True:
            try:
                response = self.http.send(call.request(self.config, user_id))
                result = _core.answer(call, response)
            except httpx.TransportError as exc:
                result = _core.connection_error(exc)
            if not isinstance(result, Exception):
                return result
            wait = _core.retry_wait(result, attempt)
            if wait is None or attempt >= self.config.max_retries:
                raise result
            self.sleep(wait)
            attempt += 1


class Images:
    """Images of one workspace: the user's (after `for_user`) or the API key's."""

    def __init__(self, transport: _Transport, user_id: str | None) -> None:
        self._t = transport
        self._user = user_id

    def upload(
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
        """Upload a file: a path, bytes or a binary file object."""
        call = _core.upload(file, filename, caption, labels, metadata, public, idempotency_key)
        return self._t.send(call, self._user)  # type: ignore[no-any-return]

    def import_url(
        self,
        url: str,
        *,
        caption: str | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Image:
        """Have imgpro fetch a public image URL and store it."""
        call = _core.import_url(url, caption, labels, metadata, idempotency_key)
        return self._t.send(call, self._user)  # type: ignore[no-any-return]

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        labels: Mapping[str, str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> Page:
        return self._t.send(_core.list_images(limit, cursor, labels, ids), self._user)  # type: ignore[no-any-return]

    def iter(
        self, *, labels: Mapping[str, str] | None = None, limit: int | None = None
    ) -> Iterator[Image]:
        """Every image, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.list(limit=limit, cursor=cursor, labels=labels)
            yield from page.data
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor

    def get(self, image_id: str) -> Image:
        return self._t.send(_core.get_image(image_id), self._user)  # type: ignore[no-any-return]

    def update(
        self,
        image_id: str,
        *,
        caption: Any = UNSET,
        labels: Any = UNSET,
        metadata: Any = UNSET,
        public: Any = UNSET,
    ) -> Image:
        """Change only the fields given; `caption=None` clears the caption."""
        call = _core.update_image(image_id, caption, labels, metadata, public)
        return self._t.send(call, self._user)  # type: ignore[no-any-return]

    def delete(self, image_id: str) -> ImgProObject:
        return self._t.send(_core.delete_image(image_id), self._user)  # type: ignore[no-any-return]

    def delete_many(self, image_ids: Iterable[str]) -> ImgProObject:
        """Delete up to 100 images; the result lists each outcome."""
        return self._t.send(_core.delete_many(image_ids), self._user)  # type: ignore[no-any-return]


class Billing:
    def __init__(self, transport: _Transport, user_id: str | None) -> None:
        self._t = transport
        self._user = user_id

    def status(self) -> ImgProObject:
        """Plan, usage, the plans on offer and `manage_url` (every plan change happens there)."""
        return self._t.send(_core.billing_status(), self._user)  # type: ignore[no-any-return]

    def checkout(
        self,
        plan: str,
        interval: str = "monthly",
        *,
        return_url: str,
        idempotency_key: str | None = None,
    ) -> ImgProObject:
        """Start a checkout for a free workspace; redirect the user to `.checkout_url`."""
        call = _core.checkout(plan, interval, return_url, idempotency_key)
        return self._t.send(call, self._user)  # type: ignore[no-any-return]


class User:
    """The app acting for one connected user: every call carries X-Img-User."""

    def __init__(self, transport: _Transport, user_id: str) -> None:
        self.id = user_id
        self._t = transport
        self.images = Images(transport, user_id)
        self.billing = Billing(transport, user_id)

    def usage(self) -> ImgProObject:
        return self._t.send(_core.usage(), self.id)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"User({self.id!r})"


class ImgPro:
    """The client: an app (`secret`, `app_id`) or one account (`api_key`).

    Each argument falls back to IMGPRO_SECRET, IMGPRO_APP_ID, IMGPRO_API_KEY, IMGPRO_API_URL,
    IMGPRO_WEB_URL. `sleep` is what waits between retries (time.sleep by default).
    """

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
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self._config = Config.build(secret, app_id, api_key, api_url, web_url, timeout, max_retries)
        self._t = _Transport(self._config, http_client, sleep)
        self.images = Images(self._t, None)
        self.billing = Billing(self._t, None)

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
        """Where to send the visitor to sign in. Keep `.state` and `.code_verifier` in their
        session; `finish_login` needs both."""
        return _core.login_url(self._config, redirect_uri, prompt, pkce, state)

    def finish_login(
        self,
        callback: str | Mapping[str, Any],
        *,
        expected_state: str | None,
        code_verifier: str | None = None,
    ) -> AuthContext:
        """Check the callback (state, then error) and exchange its code for the user."""
        return self.exchange(_core.callback_code(callback, expected_state), code_verifier)

    def exchange(self, code: str, code_verifier: str | None = None) -> AuthContext:
        return self._t.send(_core.exchange(code, code_verifier))  # type: ignore[no-any-return]

    def for_user(self, user_id: str) -> User:
        return User(self._t, user_id)

    def usage(self) -> ImgProObject:
        return self._t.send(_core.usage())  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._t.owns_http:
            self._t.http.close()

    def __enter__(self) -> ImgPro:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return self._config.describe("ImgPro")
