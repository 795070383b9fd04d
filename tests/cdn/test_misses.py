"""The miss path: a variant `HitPath` finds not stored is made and answered without the
middleware and routing, and a client sees exactly what the full stack answers (status, headers,
body, error envelope, X-Request-Id), counted in the same metrics. Operators see each failure on
its own `request` line; misses answered 200 are summed into one `cdn_misses` line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from imgpro.app import Surfaces, build_cdn
from imgpro.cdn import service as cdn
from imgpro.cdn.hits import HitPath
from imgpro.cdn.layout import OriginalMeta
from imgpro.cdn.misses import Misses
from imgpro.cdn.pool import PoolBusy, RenderPool
from imgpro.cdn.summary import SummaryLog
from imgpro.cdn.variants import Variants
from imgpro.http import RequestContext
from imgpro.ids import new_id, new_shard
from imgpro.media.render import RenderRefused
from imgpro.runtime import Runtime
from imgpro.settings import Settings
from tests.factories import images as make

BASE = "http://127.0.0.1:8000"


async def elsewhere(scope: Scope, receive: Receive, send: Send) -> None:
    """The web and api surfaces, which these requests never reach."""
    raise AssertionError(f"not a cdn request: {scope['path']}")


class InlinePool(RenderPool):
    """Renders in the test's process, or fails with `failure` (what a render process, a busy
    pool or a bug would do)."""

    failure: Exception | None = None

    async def run(self, work: Callable[..., Any], *args: object, **kwargs: object) -> Any:
        if self.failure is not None:
            raise self.failure
        return work(*args, **kwargs)


class Apps:
    """One original (its sidecar cached) behind two front doors over the same cdn app: `full`,
    a HitPath that hands misses to the full stack, and `fast`, one that answers them itself."""

    def __init__(self, tmp_path: Path) -> None:
        self.runtime = Runtime.build(Settings(data_dir=tmp_path, cdn_url=f"{BASE}/src"))
        self.pool = InlinePool(workers=1)
        cdn_app = build_cdn(self.runtime)
        cdn_app.state.variants.close()
        variants = Variants(self.runtime.blobs, self.runtime.settings, pool=self.pool)
        cdn_app.state.variants = variants
        surfaces = Surfaces(self.runtime, elsewhere, elsewhere, cdn_app)
        stack = RequestContext(surfaces)
        blobs = self.runtime.blobs
        self.miss_log = SummaryLog("cdn_misses")
        self.full = HitPath(stack, surfaces.cdn_path, blobs, SummaryLog())
        misses = Misses(self.runtime, variants, self.miss_log)
        self.fast = HitPath(stack, surfaces.cdn_path, blobs, SummaryLog(), misses)
        self.shard, self.image_id = new_shard(), new_id()
        self.original = make.jpeg(160, 120)
        self.meta = OriginalMeta(
            format="jpg",
            content_type="image/jpeg",
            etag=f"etag{self.image_id}",
            bytes=len(self.original),
            width=160,
            height=120,
            frames=1,
            transformable=True,
            expires_at=None,
        )
        self.url = f"/src/{self.shard}/{self.image_id}.jpg"

    async def store(self, tmp_path: Path) -> None:
        source = tmp_path / "source.jpg"
        source.write_bytes(self.original)
        await cdn.publish(self.runtime.blobs, self.shard, self.image_id, source, self.meta)
        cdn.META_CACHE.put(self.shard, self.image_id, self.meta)


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    apps = Apps(tmp_path)
    await apps.store(tmp_path)
    yield apps
    await apps.runtime.close()


def counts() -> dict[str, float]:
    samples = {
        "ok": ("imgpro_http_requests_total", {"surface": "cdn", "status": "200"}),
        "unprocessable": ("imgpro_http_requests_total", {"surface": "cdn", "status": "422"}),
        "busy": ("imgpro_http_requests_total", {"surface": "cdn", "status": "503"}),
        "failed": ("imgpro_http_requests_total", {"surface": "cdn", "status": "500"}),
        "misses": ("imgpro_cdn_cache_total", {"result": "miss"}),
        "timed": ("imgpro_http_request_duration_seconds_count", {"surface": "cdn"}),
    }
    return {
        name: REGISTRY.get_sample_value(metric, labels) or 0.0
        for name, (metric, labels) in samples.items()
    }


async def get(app: HitPath, url: str) -> tuple[httpx.Response, dict[str, float], list[dict]]:
    """The answer to one GET, the metrics it moved and the log lines it wrote."""
    before = counts()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get(url, headers={"X-Request-Id": "miss-1"})
    after = counts()
    return response, {name: after[name] - before[name] for name in after}, logs


def comparable(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name != "date"}


@pytest.mark.parametrize(
    "failure, status",
    [
        (None, 200),
        (RenderRefused("corrupt image"), 422),
        (PoolBusy(retry_after=5), 503),
        (RuntimeError("a bug"), 500),
    ],
)
async def test_a_miss_answers_what_the_full_stack_answers(
    apps: Apps, failure: Exception | None, status: int
) -> None:
    apps.pool.failure = failure
    full, full_moved, full_logs = await get(apps.full, apps.url + "?w=80&format=webp")
    fast, fast_moved, fast_logs = await get(apps.fast, apps.url + "?w=81&format=webp")
    assert full.status_code == fast.status_code == status
    assert fast.headers["x-request-id"] == "miss-1"
    if status == 200:  # each its own variant: its own ETag and size
        assert fast.headers["content-type"] == "image/webp" and fast.content[8:12] == b"WEBP"
        assert fast.headers["etag"] != full.headers["etag"]
        for response in (full, fast):
            del response.headers["etag"], response.headers["content-length"]
    else:
        assert fast.json() == full.json()
    assert comparable(fast) == comparable(full)
    assert fast_moved == full_moved
    assert full_moved["misses"] == full_moved["timed"] == 1
    refusals = [entry for entry in fast_logs if entry["event"] == "render_refused"]
    assert len(refusals) == (1 if status == 422 else 0)
    if status == 500:
        (bug,) = [entry for entry in fast_logs if entry["event"] == "unhandled_exception"]
        assert bug["path"] == apps.url


async def test_each_failed_miss_keeps_its_request_line_and_the_rest_are_summed(
    apps: Apps,
) -> None:
    _, _, logs = await get(apps.fast, apps.url + "?w=70")
    assert [entry["event"] for entry in logs] == []  # summed, not a line each
    _, _, logs = await get(apps.fast, apps.url + "?w=71")
    with structlog.testing.capture_logs() as summary:
        apps.miss_log.flush()
    (line,) = summary
    assert (line["event"], line["ok"]) == ("cdn_misses", 2)
    assert line["bytes"] > 0

    apps.pool.failure = PoolBusy(retry_after=5)
    busy, _, logs = await get(apps.fast, apps.url + "?w=72")
    assert busy.status_code == 503
    assert busy.json()["error"]["action"] == {"type": "wait", "retry_after": 5}
    (request,) = [entry for entry in logs if entry["event"] == "request"]
    assert (request["status"], request["path"], request["method"]) == (503, apps.url, "GET")


async def test_the_rendered_variant_is_then_a_hit(apps: Apps) -> None:
    miss, _, _ = await get(apps.fast, apps.url + "?w=60&format=webp")
    hit, moved, _ = await get(apps.fast, apps.url + "?w=60&format=webp")
    assert miss.status_code == hit.status_code == 200
    assert hit.content == miss.content
    assert comparable(hit) == comparable(miss)
    assert moved["misses"] == 0 and moved["ok"] == 1
    assert hit.headers["x-request-id"] == "miss-1"
