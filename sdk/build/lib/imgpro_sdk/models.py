"""Results: the server's JSON objects with attribute access (`img.url`) and `.to_dict()`.

Wrapping the answer instead of copying fields into fixed classes keeps every field the server
sends, including ones newer than this SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode


class ImgProObject:
    """One JSON object; nested objects are ImgProObjects too, lists stay lists."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return _wrap(self._data[name])

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImgProObject) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]

    def get(self, name: str, default: Any = None) -> Any:
        return _wrap(self._data.get(name, default))

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        shown = {k: self._data[k] for k in ("object", "id", "plan", "type") if k in self._data}
        return f"{type(self).__name__}({shown})"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return ImgProObject(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


class Sizes(ImgProObject):
    """The named sizes; `sizes.s`/`.m`/`.l` are short for `small`/`medium`/`large`."""

    _SHORT = {"s": "small", "m": "medium", "l": "large"}

    def __getattr__(self, name: str) -> Any:
        return super().__getattr__(self._SHORT.get(name, name))


class Image(ImgProObject):
    """The Image object. `transform(w=640, format="webp")` builds a CDN URL for a variant."""

    @property
    def sizes(self) -> Sizes:
        return Sizes(self._data.get("sizes") or {})

    def transform(self, **params: Any) -> str:
        """The image's CDN URL with these transform parameters, in canonical (sorted) order:
        the same variant always gets the same URL, so caches hold it once."""
        query = {
            name: ("1" if value is True else str(value))
            for name, value in params.items()
            if value is not None and value is not False
        }
        if not query:
            return str(self._data["url"])
        return f"{self._data['url']}?{urlencode(sorted(query.items()))}"


class Page(ImgProObject):
    """One page of a list: `data` (Images), `has_more`, `next_cursor`."""

    @property
    def data(self) -> list[Image]:
        return [Image(item) for item in self._data.get("data", [])]

    @property
    def has_more(self) -> bool:
        return bool((self._data.get("pagination") or {}).get("has_more"))

    @property
    def next_cursor(self) -> str | None:
        return (self._data.get("pagination") or {}).get("next_cursor")

    def __iter__(self) -> Iterator[Image]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self._data.get("data", []))


class AuthContext(ImgProObject):
    """What the code exchange returns: `user` (id, email) and `app` (id, name)."""


class LoginRequest:
    """Where to send the visitor (`url`) and what to keep in their session until the callback
    (`state`, and `code_verifier` when PKCE is on)."""

    def __init__(self, url: str, state: str, code_verifier: str | None) -> None:
        self.url = url
        self.state = state
        self.code_verifier = code_verifier

    def __repr__(self) -> str:
        return f"LoginRequest(url={self.url!r})"


class WebhookEvent(ImgProObject):
    """A verified webhook: `id` (the webhook-id header), `type`, `timestamp`, `data`."""
