"""`GET /metrics`: Prometheus text behind a bearer token; without it, the ordinary 404."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cdn.conftest import upload
from tests.conftest import Stack, start_stack
from tests.factories.images import jpeg

TOKEN = "metrics-token-for-tests"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running, server = start_stack(
        "metrics", tmp_path_factory.mktemp("metrics"), metrics_token=TOKEN
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


def samples(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{stack.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_without_the_token_there_is_no_metrics_page(
    measured: Stack, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{measured.base_url}/metrics", headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_without_a_configured_token_there_is_no_metrics_page(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/metrics", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404


def test_uploads_renders_and_cache_hits_are_counted(measured: Stack) -> None:
    before = samples(measured)
    client = measured.client(measured.key())
    image = upload(client, jpeg(200, 150))
    client.get(image["url"], params={"w": 50})  # a miss: rendered
    client.get(image["url"], params={"w": 50})  # a hit
    after = samples(measured)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("imgpro_uploads_total") == 1
    assert grew("imgpro_renders_total", result="ok") == 1
    assert grew("imgpro_cdn_cache_total", result="miss") == 1
    assert grew("imgpro_cdn_cache_total", result="hit") == 1
    assert grew("imgpro_http_requests_total", surface="cdn", status="200") == 2
    assert grew("imgpro_http_requests_total", surface="api", status="201") == 1
    assert grew("imgpro_render_duration_seconds_count") == 1
    assert grew("imgpro_http_request_duration_seconds_count", surface="cdn") == 2
    assert ("imgpro_render_queue_depth", ()) in after
