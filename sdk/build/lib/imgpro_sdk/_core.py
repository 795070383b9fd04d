"""What the sync and async clients share: settings, the requests each method sends, the hosted
login's URL and callback checks, and the retry rule. No I/O here; `_sync` and `_async` send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Union
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from . import errors
from .models import AuthContext, Image, ImgProObject, LoginRequest, Page

FileInput = Union[str, "os.PathLike[str]", bytes, IO[bytes]]
DEFAULT_URL = "http://127.0.0.1:8000"
UNSET: Any = object()  # "leave this field alone" in update(), where None means "clear it"


@dataclass(frozen=True)
class Config:
    secret: str | None
    app_id: str | None
    api_key: str | None
    api_url: str
    web_url: str
    timeout: float
    max_retries: int

    @classmethod
    def build(
        cls,
        secret: str | None,
        app_id: str | None,
        api_key: str | None,
        api_url: str | None,
        web_url: str | None,
        timeout: float,
        max_retries: int,
    ) -> Config:
        env = os.environ
        api = (api_url or env.get("IMGPRO_API_URL") or DEFAULT_URL).rstrip("/")
        return cls(
            secret=secret or env.get("IMGPRO_SECRET") or None,
            app_id=app_id or env.get("IMGPRO_APP_ID") or None,
            api_key=api_key or env.get("IMGPRO_API_KEY") or None,
            api_url=api,
            web_url=(web_url or env.get("IMGPRO_WEB_URL") or api).rstrip("/"),
            timeout=timeout,
            max_retries=max(0, int(max_retries)),
        )

    @property
    def credential(self) -> str | None:
        return self.secret or self.api_key

    def describe(self, cls: str) -> str:
        # never the secret or key: a repr ends up in logs
        mode = "app " + (self.app_id or "?") if self.secret else "api key" if self.api_key else "-"
        return f"{cls}({mode}, api_url={self.api_url!r})"


@dataclass
class Call:
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], Any]
    params: Any | None = None
    json: Any | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, config: Config, user_id: str | None) -> httpx.Request:
        headers = {"Accept": "application/json", "User-Agent": "imgpro-sdk-python/0.1"}
        if config.credential:
            headers["Authorization"] = f"Bearer {config.credential}"
        if user_id is not None:
            headers["X-Img-User"] = user_id
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        headers.update(self.headers)
        return httpx.Request(
            self.method,
            config.api_url + self.path,
            params=self.params,
            json=self.json,
            data=self.data,
            files=self.files,
            headers=headers,
        )


def answer(call: Call, response: httpx.Response) -> Any:
    """The parsed result of a 2xx answer, or the typed error of any other."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return call.parse(body)
    return errors.from_response(response.status_code, body, response.headers)


RETRIED = (errors.RateLimited, errors.ServiceUnavailable, errors.APIConnectionError)


def retry_wait(error: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying after `error` on try `attempt` (0-based), or None when
    this error is not retried. 429, 503 and no answer are; Retry-After wins when sent."""
    if not isinstance(error, RETRIED):
        return None
    if error.retry_after is not None:
        return float(error.retry_after)
    return 0.5 * 2.0**attempt


def connection_error(exc: Exception) -> errors.APIConnectionError:
    return errors.APIConnectionError(f"No answer from imgpro: {type(exc).__name__}: {exc}")


# --- hosted login -------------------------------------------------------------------------


def login_url(
    config: Config,
    redirect_uri: str,
    prompt: str | None,
    pkce: bool,
    state: str | None,
) -> LoginRequest:
    if not config.app_id:
        raise ValueError("login_url needs the app id (app_id= or IMGPRO_APP_ID)")
    if prompt not in (None, "none"):
        raise ValueError('prompt is None or "none"')
    state = state or secrets.token_urlsafe(24)
    query = {"app": config.app_id, "redirect_uri": redirect_uri, "state": state}
    if prompt:
        query["prompt"] = prompt
    verifier = None
    if pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        query["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        query["code_challenge_method"] = "S256"
    return LoginRequest(f"{config.web_url}/connect?{urlencode(query)}", state, verifier)


def callback_code(callback: str | Mapping[str, Any], expected_state: str | None) -> str:
    """The code of a hosted-login callback, after checking its state and error (in that order:
    an error answer with a foreign state is as suspect as a code with one)."""
    if isinstance(callback, str):
        query = urlsplit(callback).query if "?" in callback else callback.lstrip("?")
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    else:
        params = {k: (v[0] if isinstance(v, (list, tuple)) else v) for k, v in callback.items()}
    if expected_state is not None:
        sent = params.get("state")
        if not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8"), expected_state.encode("utf-8")
        ):
            raise errors.StateMismatch(
                "The callback's state does not match this visitor's; start the login again.",
                code="state_mismatch",
            )
    error = params.get("error")
    if error == "access_denied":
        raise errors.LoginCanceled("The user cancelled the sign-in.", code=error)
    if error == "interaction_required":
        raise errors.InteractionRequired(
            "No silent sign-in possible; send the user to login_url without prompt.", code=error
        )
    if error:
        raise errors.LoginError(f"The sign-in failed: {error}", code=str(error))
    code = params.get("code")
    if not isinstance(code, str) or not code:
        raise errors.LoginError("The callback carries neither a code nor an error.")
    return code


def exchange(code: str, code_verifier: str | None) -> Call:
    body: dict[str, Any] = {"code": code}
    if code_verifier is not None:
        body["code_verifier"] = code_verifier
    return Call("POST", "/v1/auth/exchange", AuthContext, json=body)


# --- images, usage, billing ---------------------------------------------------------------


def _key(given: str | None) -> str:
    return given or str(uuid.uuid4())


def _file_part(file: FileInput, filename: str | None) -> tuple[str, bytes]:
    """Name and bytes of the file to send. Read once, so a retry sends the very same bytes."""
    if isinstance(file, bytes):
        return filename or "upload", file
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return filename or os.path.basename(os.fspath(file)), handle.read()
    name = filename or os.path.basename(str(getattr(file, "name", "") or "upload"))
    return name, file.read()


def upload(
    file: FileInput,
    filename: str | None,
    caption: str | None,
    labels: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
    public: bool | None,
    idempotency_key: str | None,
) -> Call:
    name, content = _file_part(file, filename)
    form: dict[str, str] = {}
    if caption is not None:
        form["caption"] = caption
    if labels is not None:
        form["labels"] = json.dumps(dict(labels))
    if metadata is not None:
        form["metadata"] = json.dumps(dict(metadata))
    if public is not None:
        form["public"] = "true" if public else "false"
    return Call(
        "POST",
        "/v1/images",
        Image,
        data=form,
        files={"file": (name, content, "application/octet-stream")},
        idempotency_key=_key(idempotency_key),
    )


def import_url(
    url: str,
    caption: str | None,
    labels: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> Call:
    body: dict[str, Any] = {"url": url}
    if caption is not None:
        body["caption"] = caption
    if labels is not None:
        body["labels"] = dict(labels)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Call("POST", "/v1/images", Image, json=body, idempotency_key=_key(idempotency_key))


def list_images(
    limit: int | None,
    cursor: str | None,
    labels: Mapping[str, str] | None,
    ids: Iterable[str] | None,
) -> Call:
    params = []
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor:
        params.append(("cursor", cursor))
    for key, value in (labels or {}).items():
        params.append((f"label[{key}]", value))
    if ids is not None:
        params.append(("ids", ",".join(ids)))
    return Call("GET", "/v1/images", Page, params=params)


def get_image(image_id: str) -> Call:
    return Call("GET", f"/v1/images/{_segment(image_id)}", Image)


def update_image(image_id: str, caption: Any, labels: Any, metadata: Any, public: Any) -> Call:
    changes = {
        name: value
        for name, value in (
            ("caption", caption),
            ("labels", labels),
            ("metadata", metadata),
            ("public", public),
        )
        if value is not UNSET
    }
    return Call("PATCH", f"/v1/images/{_segment(image_id)}", Image, json=changes)


def delete_image(image_id: str) -> Call:
    return Call("DELETE", f"/v1/images/{_segment(image_id)}", ImgProObject)


def delete_many(image_ids: Iterable[str]) -> Call:
    return Call("DELETE", "/v1/images/batch", ImgProObject, json={"ids": list(image_ids)})


def usage() -> Call:
    return Call("GET", "/v1/usage", ImgProObject)


def billing_status() -> Call:
    return Call("GET", "/v1/billing/status", ImgProObject)


def checkout(plan: str, interval: str, return_url: str, idempotency_key: str | None) -> Call:
    return Call(
        "POST",
        "/v1/billing/checkout",
        ImgProObject,
        json={"plan": plan, "interval": interval, "return_url": return_url},
        idempotency_key=_key(idempotency_key),
    )


def _segment(image_id: str) -> str:
    # an id is a path segment: refuse anything that would change the path
    if not image_id or any(c in image_id for c in "/?#%") or image_id in (".", ".."):
        raise ValueError(f"not an image id: {image_id!r}")
    return image_id
