"""ASGI plumbing shared by the surfaces: request ids, access logs, the error envelope for
everything (unknown routes, wrong methods, malformed bodies, unexpected exceptions), the
streaming body-size cap, the caller's address and the one JSON body reader."""

from __future__ import annotations

import functools
import ipaddress
import json
import time
from typing import Any, TypeVar

import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgpro import tokens
from imgpro.errors import ApiError, ErrorCode, invalid
from imgpro.logs import log
from imgpro.ops.outages import is_outage, unavailable
from imgpro.units import size_text

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HTTP_CODES: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed"}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.envelope(), status_code=error.status, headers=error.headers)


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(ApiError(code, headers=headers))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The Allow header of a 405: every method some route of the app serves at this path.
    (Starlette's own names only the first route that matched the path, so `GET` alone where
    `GET, POST` are served.)"""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


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


MAX_JSON_DEPTH = 40  # request bodies: room for a field's own 32 levels (fields.MAX_JSON_DEPTH)


class BadJson(ValueError):
    """Text that is not JSON, or nests deeper than allowed; the message completes "... is"."""


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from an untrusted caller. Depth is bounded: the decoder recurses per level, so
    100,000 `[` would otherwise end in RecursionError (a 500), and every later walk would too."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadJson(f"nested more than {max_depth} levels deep") from None
    except ValueError:  # includes UnicodeDecodeError
        raise BadJson("not valid JSON") from None
    if nests_deeper_than(value, max_depth):
        raise BadJson(f"nested more than {max_depth} levels deep")
    return value


def nests_deeper_than(value: Any, max_depth: int) -> bool:
    """Whether arrays/objects in `value` nest more than `max_depth` levels (iterative: no
    recursion to exhaust)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth + 1 > max_depth:
            return True
        pending.extend((child, depth + 1) for child in item)
    return False


async def read_json(request: Request) -> Any:
    """The request body as JSON; 422 on the field `body` when it isn't (or nests too deep)."""
    try:
        return parse_json(await request.body())
    except BadJson as exc:
        raise invalid("body", f"The body is {exc}.") from None


def client_ip(scope: Scope, trusted_proxies: list[str]) -> str:
    """The caller's address. X-Forwarded-For only counts when the peer is a trusted proxy, and
    is read from the right: each trusted hop appends the address it saw, so the first entry
    from the right that is not a trusted proxy is the client; what stands left of it was
    written by the client and proves nothing."""
    peer: str = (scope.get("client") or ("unknown", 0))[0]
    networks = _networks(tuple(trusted_proxies))
    if not _is_trusted(peer, networks):
        return peer
    hops: list[str] = [
        hop.strip()
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


@functools.cache
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)


def _is_trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class RequestContext:
    """Outermost middleware: request id, one access log line, and a 500 envelope (never a
    bare traceback) for any exception that escapes a surface."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or tokens.hex_token(8)
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
        if name == b"x-request-id" and (request_id := valid_request_id(value)):
            return request_id
    return None


def valid_request_id(value: bytes) -> str | None:
    """A caller's X-Request-Id, when it is one we repeat (letters, digits, dashes; 64 at most)."""
    candidate = value.decode("latin-1")[:64]
    return candidate if candidate.replace("-", "").isalnum() else None


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
            f"The request is larger than {size_text(limit)}, the limit for this "
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
