"""Every failure the SDK raises, one class per thing an app does differently::

ImgProError                      status, type, code, message, details, action, request_id
├── AuthenticationError          401: the secret or API key is wrong
├── PermissionDenied             403
│   ├── UserForbidden            not your user any more: treat as disconnected, sign in again
│   ├── AppSuspended             an operator suspended the app: stop
│   └── QuotaExceeded            .usage, .upgrade_url
├── NotFound                     404
├── ValidationError              422, .details says which field
│   └── InvalidCode              the login code is bad, expired or used: restart the login
├── Conflict                     409
│   ├── IdempotencyConflict      the Idempotency-Key was used for a different request
│   └── AlreadySubscribed        .manage_url: send the user there
├── RateLimited                  429, .retry_after
├── ServiceUnavailable           503, .retry_after
├── APIConnectionError           no answer at all
├── LoginError                   the hosted login came back without a usable code
│   ├── StateMismatch            the callback's state is not the one this visitor was sent with
│   ├── LoginCanceled            the user said no (error=access_denied)
│   └── InteractionRequired      prompt=none could not sign in silently
└── WebhookVerificationError     a webhook whose signature, timestamp or body does not check out
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ImgProError(Exception):
    """Base class: what the server's error envelope said (or what went wrong before it)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        action: Mapping[str, Any] | None = None,
        usage: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.details = dict(details or {})
        self.action = dict(action or {})
        self.usage = dict(usage) if usage is not None else None
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.status} {self.code}" if self.status else (self.code or "")
        return f"{where}: {self.message}" if where else self.message


class AuthenticationError(ImgProError):
    """401: the machine secret or API key is missing or wrong."""


class PermissionDenied(ImgProError):
    """403: authenticated, but not allowed (e.g. a read-only key writing)."""


class UserForbidden(PermissionDenied):
    """403 user_forbidden: treat the user as disconnected and sign them in again."""


class AppSuspended(PermissionDenied):
    """403 app_suspended: an operator suspended the app; nothing works until it is lifted."""


class QuotaExceeded(PermissionDenied):
    """403 quota_exceeded: the plan is used up; `upgrade_url` opens the upgrade page."""

    @property
    def upgrade_url(self) -> str | None:
        return self.action.get("url")


class NotFound(ImgProError):
    """404: no such image (or not in this workspace)."""


class ValidationError(ImgProError):
    """422: the request was refused; `details` names the fields."""


class InvalidCode(ValidationError):
    """422 invalid_code: the login code is unknown, expired or used; restart the hosted login."""


class Conflict(ImgProError):
    """409."""


class IdempotencyConflict(Conflict):
    """409 idempotency_key_conflict: this Idempotency-Key was sent with a different request."""


class AlreadySubscribed(Conflict):
    """409 already_subscribed: the workspace pays already; plan changes happen at manage_url."""

    @property
    def manage_url(self) -> str | None:
        return self.action.get("url")


class RateLimited(ImgProError):
    """429: wait `retry_after` seconds (the SDK already retried up to max_retries)."""


class ServiceUnavailable(ImgProError):
    """503: a backend is down; retry after `retry_after` seconds."""


class APIConnectionError(ImgProError):
    """The server could not be reached or did not answer."""


class LoginError(ImgProError):
    """The hosted login's callback carries no code that can be exchanged."""


class StateMismatch(LoginError):
    """The callback's state differs from the one stored for this visitor: possible CSRF."""


class LoginCanceled(LoginError):
    """error=access_denied: the user cancelled; show "sign-in cancelled — try again"."""


class InteractionRequired(LoginError):
    """error=interaction_required: prompt=none failed; send the user through the full login."""


class WebhookVerificationError(ImgProError):
    """The webhook's signature, timestamp or body does not verify; answer 400 and ignore it."""


_BY_STATUS: dict[int, type[ImgProError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}
_BY_CODE: dict[str, type[ImgProError]] = {
    "user_forbidden": UserForbidden,
    "app_suspended": AppSuspended,
    "quota_exceeded": QuotaExceeded,
    "invalid_code": InvalidCode,
    "idempotency_key_conflict": IdempotencyConflict,
    "already_subscribed": AlreadySubscribed,
}


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def from_response(status: int, body: Any, headers: Mapping[str, str]) -> ImgProError:
    """The error class for an answer's status and envelope code, carrying the envelope."""
    found = body.get("error") if isinstance(body, dict) else None
    error: dict[str, Any] = (
        found if isinstance(found, dict) else {"message": f"HTTP {status} without an envelope"}
    )
    code = error.get("code") if isinstance(error.get("code"), str) else None
    action: dict[str, Any] = error["action"] if isinstance(error.get("action"), dict) else {}
    retry_after = _seconds(headers.get("retry-after"))
    if retry_after is None:
        retry_after = _seconds(action.get("retry_after"))
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status, ImgProError)
    return cls(
        str(error.get("message") or f"HTTP {status}"),
        status=status,
        type=error.get("type"),
        code=code,
        details=error.get("details") if isinstance(error.get("details"), dict) else None,
        action=action,
        usage=error.get("usage") if isinstance(error.get("usage"), dict) else None,
        request_id=headers.get("x-request-id"),
        retry_after=retry_after,
    )
