"""Prometheus metrics (decisions.md §6) and `GET /metrics` on the api surface.

The endpoint exists only when `IMGPRO_METRICS_TOKEN` is set and the request carries it as a
Bearer token; anything else is the ordinary 404 envelope, so a scanner learns nothing. With
`imgpro serve --workers N` the workers write their samples to a shared directory
(`PROMETHEUS_MULTIPROC_DIR`, set by `serve`) and any worker answers for all of them.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgpro import tokens
from imgpro.errors import ApiError

HTTP_REQUESTS = Counter("imgpro_http_requests", "HTTP requests answered.", ["surface", "status"])
HTTP_DURATION = Histogram(
    "imgpro_http_request_duration_seconds", "Time to the response's first byte.", ["surface"]
)
RENDERS = Counter("imgpro_renders", "Variant renders by outcome.", ["result"])
RENDER_DURATION = Histogram("imgpro_render_duration_seconds", "Time of one variant render.")
CDN_CACHE = Counter(
    "imgpro_cdn_cache", "CDN variant requests: stored already (hit) or rendered (miss).", ["result"]
)
UPLOADS = Counter("imgpro_uploads", "Images stored (uploads and URL imports).")
RENDER_QUEUE = Gauge(
    "imgpro_render_queue_depth",
    "Variant renders running or waiting in this node.",
    multiprocess_mode="livesum",
)


class Measured:
    """Counts and times every request of one surface (status and time to first byte)."""

    def __init__(self, app: ASGIApp, surface: str) -> None:
        self.app = app
        self.surface = surface

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes answers 500 further out

        async def measured_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                HTTP_DURATION.labels(self.surface).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            HTTP_REQUESTS.labels(self.surface, str(status)).inc()


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def metrics(request: Request) -> Response:
    token = request.app.state.runtime.settings.metrics_token
    offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    # compare in constant time: this is a secret
    if not token or not tokens.same(offered, token):
        raise ApiError("not_found")
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
