"""The CDN's miss path: a variant that `HitPath` found not stored (its sidecar cached, the blob
store local, no Range, a GET) is made and answered in raw ASGI, without the middleware and
routing the full stack would run to reach `routes.answer_miss` again.

By the time `HitPath` knows a request is a miss it has done the full stack's lookups (sidecar,
query parse, variant name, If-None-Match, the `stat`); running them a second time under
RequestContext, Surfaces, Measured, Starlette's two exception middlewares and the router was
about a seventh of the server's Python time per miss (cProfile on thread CPU: 610k calls per
500 misses before, 528k after). What a client and an operator see is what
those layers give, done here in the same order: the X-Request-Id (the caller's, or a new one)
on every answer and bound to every log line, the cdn surface's request count and time to first
byte, the error envelope of an `ApiError` (429, 503, 404, media_failed) as the cdn app's
handler renders it, a 500 (or 503 for a backend outage) and its log line for anything else.
One thing differs, as for hits: a miss answered 200 is summed into one `cdn_misses` line a
second (`SummaryLog`) instead of a `request` line each; every other answer (each refusal,
429, 503, 404, 500) keeps its own `request` line.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from imgpro.cdn.routes import answer_miss
from imgpro.cdn.service import Located
from imgpro.cdn.summary import SummaryLog
from imgpro.cdn.variants import Variant, Variants
from imgpro.errors import ApiError
from imgpro.http import error_response, log_escaped, log_request
from imgpro.ops.metrics import HTTP_DURATION, answered
from imgpro.ops.outages import unavailable
from imgpro.runtime import Runtime


class Missing(NamedTuple):
    """A variant of a cached sidecar, not stored on the local disk: a miss."""

    located: Located
    variant: Variant


class Misses:
    """Answers the misses `HitPath` hands over, as the cdn surface of the full stack would."""

    def __init__(self, runtime: Runtime, variants: Variants, answered_log: SummaryLog) -> None:
        self.runtime = runtime
        self.variants = variants
        self.answered_log = answered_log
        self.duration = HTTP_DURATION.labels("cdn")  # as `Measured` names it, labelled once

    async def answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        missing: Missing,
        request_id: str,
        started: float,
    ) -> None:
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status, size = 500, 0
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, size, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                self.duration.observe(time.perf_counter() - started)
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            else:
                size += len(message.get("body", b""))
            await send(message)

        try:
            response = await self._response(scope, missing)
            await response(scope, receive, send_with_id)
        except Exception as error:
            log_escaped(error, scope)
            if not response_started:
                answer = error_response(unavailable(error) or ApiError("api_error"))
                await answer(scope, receive, send_with_id)
        finally:
            answered("cdn", status).inc()
            if status == 200:
                self.answered_log.add(status, size, time.perf_counter() - started)
            else:
                log_request(scope, status, started)

    async def _response(self, scope: Scope, missing: Missing) -> Response:
        request, (located, variant) = Request(scope), missing
        try:
            return await answer_miss(request, self.runtime, self.variants, located, variant)
        except ApiError as error:  # as the cdn app's handler renders it
            return error_response(error)
