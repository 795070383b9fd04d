"""ASGI plumbing shared by the surfaces: request ids, access logs, the error envelope for
everything (unknown routes, wrong methods, malformed bodies, unexpected exceptions) and the
streaming body-size cap."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, TypeVar

import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgpro.errors import ApiError, ErrorCode, invalid
from imgpro.logs import log
from imgpro.ops.outages import is_outage, unavailable

_HTTP_CODES: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed"}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.envelope(), status_code=error.status, headers=error.headers)


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_exception_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    return error_response(ApiError(code))


def _validation_error(problems: Any, skip: int, whole: str) -> ApiError:
    """One validation_error naming each field (the first `skip` loc parts name the source)."""
    details: dict[str, list[str]] = {}
    for problem in problems:
        loc = problem.get("loc", ())[skip:]
        field = str(loc[0]) if loc else whole
        details.setdefault(field, []).append(str(problem.get("msg", "invalid")))
    return ApiError("validation_error", details=details)


M = TypeVar("M", bound=BaseModel)


def parse_as(model: type[M], data: Any) -> M:
    """A body already decoded from JSON (or form text), parsed by its model, or a 422."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc.errors(), 0, "body") from None


async def request_validation_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(_validation_error(exc.errors(), 1, "request"))


async def server_error_handler(_request: Request, exc: Exception) -> Response:
    # Starlette sends this, then re-raises to RequestContext, which logs it with the request id
    return error_response(unavailable(exc) or ApiError("api_error"))


ENVELOPE_HANDLERS: dict[Any, Any] = {
    Exception: server_error_handler,
    ApiError: api_error_handler,
    HTTPException: http_exception_handler,
    RequestValidationError: request_validation_handler,
}


def client_ip(scope: Scope, trusted_proxies: list[str]) -> str:
    """The caller's address; X-Forwarded-For only counts when it comes from a trusted proxy."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if peer in trusted_proxies:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[0].strip() or peer
    return peer


class RequestContext:
    """Outermost middleware: request id, one access log line, and a 500 envelope (never a
    bare traceback) for any exception that escapes a surface."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if is_outage(error):  # answered 503; the backend's failure is the news, not a trace
                log.warning("backend_unavailable", path=scope.get("path"), error=str(error)[:300])
            else:
                log.exception("unhandled_exception", path=scope.get("path"))
            if not response_started:
                body = json.dumps(ApiError("api_error").envelope()).encode()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")[:64]
            if candidate.replace("-", "").isalnum():
                return candidate
    return None


class BodyLimit:
    """Refuse bodies over the caller's upload limit while they stream in, never buffering
    them whole: by Content-Length up front, else by counting chunks as the route reads them.
    Anonymous callers (no Authorization header) get the anonymous limit."""

    # multipart boundaries and small fields around the file
    OVERHEAD = 256 * 1024

    def __init__(self, app: ASGIApp, max_bytes: int, max_anonymous_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_anonymous_bytes = max_anonymous_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        limit = self.max_bytes if b"authorization" in headers else self.max_anonymous_bytes
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        error = invalid(
            "file" if is_upload else "body",
            f"The request is larger than {limit // (1024 * 1024)} MB, the limit for this "
            "caller; send a smaller file.",
        )
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit + self.OVERHEAD:
            await error_response(error)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit + self.OVERHEAD:
                    raise error
            return message

        await self.app(scope, counting_receive, send)
