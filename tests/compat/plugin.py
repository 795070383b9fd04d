"""img.pro's WordPress plugin (Bandwidth Saver 2.x) as a client, in Python.

`PluginApi` sends byte for byte what the plugin's `ImgPro_CDN_API` class
(`includes/class-imgpro-cdn-api.php`) sends: one key as a Bearer token and never X-Img-User,
`Accept: application/json`, its User-Agent, a multipart body it builds itself (labels and
metadata as JSON strings made by `wp_json_encode`, a boundary derived from the Idempotency-Key),
queries built by `http_build_query(..., PHP_QUERY_RFC3986)`, `ids=` trimmed to 50 and batch
deletes to 100. Failures come back as `Failure`, shaped like the WP_Error the class returns.

`decide` is the plugin's reading of a failure (`class-imgpro-cdn-sync.php`: classify_error,
handle_error, handle_upload_error) and `has_room` its test for lifting a quota pause; with them
the tests assert the plugin's decisions (pause, back off, retry later, fail the file), not only
statuses.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

USER_AGENT = "BandwidthSaver/2.0.0 WordPress/6.8; https://blog.example"
MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


@dataclass(frozen=True)
class Failure:
    """The WP_Error of a failed call: code (img.pro's, or http_<status>), message, status,
    type and retry_after (the Retry-After header, else action.retry_after)."""

    code: str
    message: str
    status: int
    type: str
    retry_after: int


def wp_json_encode(value: Any) -> str:
    """PHP's json_encode with its default flags: "/" escaped, non-ASCII as \\uXXXX."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def http_build_query(query: dict[str, Any]) -> str:
    """`http_build_query($query, '', '&', PHP_QUERY_RFC3986)`: brackets and commas encoded."""
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())


class PluginApi:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.api_key = api_key
        self.http = httpx.Client(base_url=f"{base_url}/v1", timeout=60)
        self.sent: list[httpx.Request] = []  # every request as it went out, for assertions

    def close(self) -> None:
        self.http.close()

    def get_usage(self) -> dict[str, Any] | Failure:
        return self.request("GET", "/usage")

    def check_write_access(self) -> bool | Failure:
        """img.pro checks abilities before the body: `{}` answers 422 for a write key and 403
        for a read-only one, and creates nothing either way."""
        result = self.request(
            "POST", "/images", headers={"Content-Type": "application/json"}, body=b"{}"
        )
        if not isinstance(result, Failure) or result.status == 422:
            return True
        return result

    def upload_file(
        self,
        filename: str,
        contents: bytes,
        labels: dict[str, str],
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any] | Failure:
        boundary = "imgpro" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        filename = re.sub(r'["\r\n]', "", filename)
        mime = MIME.get(filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")
        head = ""
        for name, value in (("labels", labels), ("metadata", metadata)):
            head += f"--{boundary}\r\n"
            head += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            head += wp_json_encode(value) + "\r\n"
        head += f"--{boundary}\r\n"
        head += f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        head += f"Content-Type: {mime}\r\n\r\n"
        body = head.encode() + contents + f"\r\n--{boundary}--\r\n".encode()
        return self.request(
            "POST",
            "/images",
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Idempotency-Key": idempotency_key,
            },
            body=body,
        )

    def import_url(
        self, url: str, labels: dict[str, str], metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any] | Failure:
        body = wp_json_encode({"url": url, "labels": labels, "metadata": metadata})
        return self.request(
            "POST",
            "/images",
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            body=body.encode(),
        )

    def list_images(
        self, labels: dict[str, str], limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any] | Failure:
        query: dict[str, Any] = {"limit": max(1, min(100, limit))}
        for key, value in labels.items():
            query[f"label[{key}]"] = value
        if cursor:
            query["cursor"] = cursor
        return self.request("GET", "/images?" + http_build_query(query))

    def get_images(self, ids: list[str]) -> dict[str, Any] | Failure:
        """Up to 50 ids; img.pro leaves out those it cannot serve, without saying why."""
        unique = list(dict.fromkeys(i for i in ids if i))[:50]
        if not unique:
            return {"object": "list", "data": []}
        return self.request("GET", "/images?" + http_build_query({"ids": ",".join(unique)}))

    def get_image(self, image_id: str) -> dict[str, Any] | Failure:
        return self.request("GET", "/images/" + quote(image_id, safe=""))

    def delete_images(self, ids: list[str]) -> dict[str, Any] | Failure:
        chosen = [i for i in ids if i][:100]
        if not chosen:
            return {"object": "batch_result", "data": [], "errors": []}
        return self.request(
            "DELETE",
            "/images/batch",
            headers={"Content-Type": "application/json"},
            body=wp_json_encode({"ids": chosen}).encode(),
        )

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Any:
        request = self.http.build_request(
            method,
            path,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                **(headers or {}),
            },
            content=body or None,
        )
        self.sent.append(request)
        response = self.http.send(request)
        try:
            decoded = response.json()
        except ValueError:
            decoded = None
        if 200 <= response.status_code < 300:
            return decoded if isinstance(decoded, dict) else {}
        error = decoded.get("error") if isinstance(decoded, dict) else None
        error = error if isinstance(error, dict) else {}
        retry_after = int(response.headers.get("retry-after") or 0)
        if not retry_after:
            retry_after = int((error.get("action") or {}).get("retry_after") or 0)
        message = error.get("message") or f"img.pro returned HTTP {response.status_code}."
        # a validation error's reasons are in details: the first of each field, three at most
        reasons = [
            (value[0] if isinstance(value, list) and value else value)
            for value in (error.get("details") or {}).values()
        ]
        reasons = [r for r in reasons if isinstance(r, str) and r.strip()][:3]
        return Failure(
            code=error.get("code") or f"http_{response.status_code}",
            message=" ".join(reasons) if reasons else message,
            status=response.status_code,
            type=error.get("type", ""),
            retry_after=retry_after,
        )


def classify(failure: Failure) -> str:
    """The plugin's classify_error: auth, quota, app, blocked, deleting, throttle, source,
    request or service."""
    if failure.status == 401 or failure.code == "forbidden":
        return "auth"
    account = {
        "quota_exceeded": "quota",
        "app_suspended": "app",
        "app_blocked": "blocked",
        "workspace_unavailable": "deleting",
    }
    if failure.code in account:
        return account[failure.code]
    if failure.status in (429, 503) or failure.code == "idempotency_key_in_progress":
        return "throttle"
    if failure.code == "fetch_failed":
        return "source"
    request_codes = {"validation_error", "media_failed", "media_blocked", "file_unreadable"}
    if failure.code in request_codes or failure.status in (400, 413, 415, 422):
        return "request"
    by_type = {
        "authentication_error": "auth",
        "permission_error": "app",
        "quota_error": "quota",
        "rate_limit_error": "throttle",
    }
    return by_type.get(failure.type, "service")


def decide(failure: Failure) -> str:
    """What the plugin does after a failed upload or import (handle_upload_error, then
    handle_error): requeue, fail-file, fail-source, retry-later, pause-<reason>,
    wait-<seconds> or back-off."""
    if failure.code in ("idempotency_key_conflict", "idempotency_recovery_conflict"):
        return "requeue"  # the file changed since the first try: a new key
    kind = classify(failure)
    if kind == "request":
        return "fail-file"
    if kind == "source":
        # 504: the other website was slow, ask again later; anything else fails at once
        return "retry-later" if failure.status == 504 else "fail-source"
    if kind in ("auth", "quota", "app", "blocked", "deleting"):
        return f"pause-{kind}"
    if kind == "throttle":
        return f"wait-{min(max(30, failure.retry_after), 3600)}"
    return "back-off"


def has_room(usage: dict[str, Any]) -> bool:
    """The plugin lifts a quota pause only when this holds (ImgPro_CDN_Sync::has_room)."""
    images = usage.get("limits", {}).get("images", {})
    used, limit = images.get("used"), images.get("limit")
    return not usage.get("limits_enforced") or limit is None or (used is not None and used < limit)


def connect(api: PluginApi) -> str:
    """The plugin's connect step (ajax_connect): usage, then the write probe. "connected", or
    the reason it shows, by its describe_key_error."""
    for step, result in (("read", api.get_usage()), ("write", api.check_write_access())):
        if not isinstance(result, Failure):
            continue
        if result.status == 401:
            return "key-not-recognised"
        if result.code == "forbidden":
            return f"cannot-{step}"
        if result.code in ("app_suspended", "app_blocked", "workspace_unavailable"):
            return result.code
        if result.status == 429 or result.status >= 500:
            return "busy"
        return f"refused:{result.code}"
    return "connected"
