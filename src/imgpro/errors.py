"""The error catalogue and the one error envelope.

Every error imgpro answers leaves through :class:`ApiError`::

    ApiError(code, message=None, *, details=None, action=None, usage=None, headers=None,
             status=None)
      │
      └── rendered by :func:`envelope` as
          {"error": {"type", "code", "message", "action"?, "usage"?, "details"?}}

``CATALOGUE`` maps each code to its HTTP status, its coarse ``type`` and a default message
(and the other statuses a few codes answer with, chosen by whoever raises them).
Services raise ``ApiError("not_found")``; routes never build errors; one handler renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ErrorKind:
    """One catalogued error: its HTTP status, type and default message; `also` lists other
    statuses the code may carry (the raiser picks one)."""

    status: int
    type: str
    message: str
    also: tuple[int, ...] = ()

    @property
    def statuses(self) -> tuple[int, ...]:
        return (self.status, *self.also)


ErrorCode = Literal[
    "validation_error",
    "bad_request",
    "not_found",
    "method_not_allowed",
    "headers_too_large",
    "invalid_code",
    "invalid_target_url",
    "media_failed",
    "unauthorized",
    "forbidden",
    "media_locked",
    "media_blocked",
    "user_forbidden",
    "app_suspended",
    "rate_limited",
    "quota_exceeded",
    "idempotency_key_conflict",
    "idempotency_key_in_progress",
    "already_subscribed",
    "upload_failed",
    "fetch_failed",
    "import_failed",
    "api_error",
    "update_failed",
    "delete_failed",
    "service_unavailable",
]
"""Every catalogued code: mypy refuses an ApiError with any other."""

CATALOGUE: dict[ErrorCode, ErrorKind] = {
    # invalid_request_error
    "validation_error": ErrorKind(422, "invalid_request_error", "Validation failed."),
    "bad_request": ErrorKind(400, "invalid_request_error", "The request is malformed."),
    "not_found": ErrorKind(404, "invalid_request_error", "No such resource."),
    "method_not_allowed": ErrorKind(
        405, "invalid_request_error", "This method is not allowed on this path."
    ),
    "invalid_code": ErrorKind(
        422,
        "invalid_request_error",
        "The code is unknown, expired or already used; restart the hosted login.",
    ),
    "invalid_target_url": ErrorKind(
        422, "invalid_request_error", "return_url must be an absolute http(s) URL."
    ),
    "headers_too_large": ErrorKind(
        431, "invalid_request_error", "The request's headers are too large."
    ),
    "media_failed": ErrorKind(422, "invalid_request_error", "Processing of this image failed."),
    # authentication_error
    "unauthorized": ErrorKind(
        401, "authentication_error", "Missing or invalid API key or app secret."
    ),
    # permission_error
    "forbidden": ErrorKind(403, "permission_error", "This key lacks the ability for this call."),
    "media_locked": ErrorKind(403, "permission_error", "This image may not be changed."),
    "media_blocked": ErrorKind(403, "permission_error", "This image is blocked."),
    "user_forbidden": ErrorKind(
        403, "permission_error", "This user cannot be acted on by this app."
    ),
    "app_suspended": ErrorKind(403, "permission_error", "This app is suspended."),
    # rate_limit_error
    "rate_limited": ErrorKind(429, "rate_limit_error", "Too many requests; try again shortly."),
    # quota_error
    "quota_exceeded": ErrorKind(403, "quota_error", "The plan's quota is used up."),
    # idempotency_error
    "idempotency_key_conflict": ErrorKind(
        409, "idempotency_error", "This Idempotency-Key was used with a different request."
    ),
    "idempotency_key_in_progress": ErrorKind(
        409,
        "idempotency_error",
        "The first request with this Idempotency-Key is still running; retry shortly.",
    ),
    "already_subscribed": ErrorKind(
        409, "invalid_request_error", "This workspace already has a paid plan; use manage_url."
    ),
    # processing_error
    "upload_failed": ErrorKind(422, "processing_error", "The upload could not be processed."),
    # 502: the source answered with an error or could not be reached; 504: it timed out
    # (clients retry a 504 later and give up on a 502)
    "fetch_failed": ErrorKind(
        502, "processing_error", "The source URL could not be fetched.", also=(504,)
    ),
    "import_failed": ErrorKind(422, "processing_error", "The URL import failed."),
    # api_error
    "api_error": ErrorKind(500, "api_error", "Something went wrong on our side."),
    "update_failed": ErrorKind(500, "api_error", "The image could not be updated."),
    "delete_failed": ErrorKind(500, "api_error", "The image could not be deleted."),
    "service_unavailable": ErrorKind(
        503, "api_error", "Temporarily unavailable; retry after the given delay."
    ),
}


class ApiError(Exception):
    """An error answered to the caller in the envelope; ``code`` must be catalogued."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        action: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"uncatalogued error code {code!r}")
        self.kind = CATALOGUE[code]
        if status is not None and status not in self.kind.statuses:
            raise ValueError(f"{code} is never answered with {status}")
        self._status = status or self.kind.status
        self.code = code
        self.message = message or self.kind.message
        self.details = details
        self.action = action
        self.usage = usage
        self.headers = dict(headers or {})
        if action and "retry_after" in action:
            self.headers.setdefault("Retry-After", str(action["retry_after"]))
        super().__init__(f"{code}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt as raised when it crosses from a render process (ingest runs there): the
        # default would call ApiError with its one-line summary as the code
        return (ApiError, (self.code, self.message), self.__dict__)

    @property
    def status(self) -> int:
        return self._status

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.kind.type,
            "code": self.code,
            "message": self.message,
        }
        if self.action is not None:
            body["action"] = self.action
        if self.usage is not None:
            body["usage"] = self.usage
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


def invalid(field: str, message: str) -> ApiError:
    """A 422 validation_error naming one field."""
    return ApiError("validation_error", details={field: [message]})


def busy(retry_after: int, message: str) -> ApiError:
    """A 503 with a wait action: the render processes are all busy (nothing was done)."""
    return ApiError(
        "service_unavailable", message, action={"type": "wait", "retry_after": retry_after}
    )


def rate_limited(retry_after: int, message: str | None = None) -> ApiError:
    """A 429 with a wait action; the Retry-After header carries the same number."""
    return ApiError(
        "rate_limited",
        message,
        action={"type": "wait", "retry_after": max(1, int(retry_after))},
    )
