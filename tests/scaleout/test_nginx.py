"""deploy/nginx/imgpro.conf as written (only its node ports, listen port and cache path moved
to the test's) in front of two nodes: variants are cached at nginx, API calls reach both nodes,
and a client cannot forge its address."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import Node, wait_until
from tests.cdn.conftest import upload
from tests.conftest import free_port
from tests.factories.images import jpeg
from tests.scaleout.conftest import Backends

CONFIG = Path(__file__).parents[2] / "deploy" / "nginx" / "imgpro.conf"
TOKEN = "nginx-metrics"


def nginx_config(tmp: Path, port: int, nodes: list[Node]) -> Path:
    site = CONFIG.read_text()
    for default, node in zip(("127.0.0.1:8001", "127.0.0.1:8002"), nodes, strict=True):
        assert default in site
        site = site.replace(default, f"127.0.0.1:{node.port}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("/var/cache/nginx/imgpro", str(tmp / "cache"))
    (tmp / "imgpro.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(
        f"""
user root;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    include {tmp}/imgpro.conf;
}}
"""
    )
    return main


@pytest.fixture(scope="module")
def edge(
    backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[Node]]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    shared = {
        "database_url": backends.direct_database_url,
        "storage_url": backends.s3.url(backends.s3.new_bucket()),
        "redis_url": backends.redis.url,
        "metrics_token": TOKEN,
        "web_url": public,
        "api_url": public,
        "cdn_url": f"{public}/src",
    }
    nodes = [Node(name, tmp_path_factory.mktemp(name), **shared) for name in ("n1", "n2")]
    tmp = tmp_path_factory.mktemp("nginx")
    config = nginx_config(tmp, port, nodes)
    subprocess.run([binary, "-t", "-c", str(config)], check=True, capture_output=True)
    nginx = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        for node in nodes:
            node.start()

        def answers() -> bool:
            try:
                return httpx.get(f"{public}/openapi.json", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, "nginx")
        yield public, nodes
    finally:
        nginx.terminate()
        nginx.wait(10)
        for node in nodes:
            node.stop()


def api_requests(node: Node) -> float:
    text = httpx.get(f"{node.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "imgpro_http_requests_total" and sample.labels.get("surface") == "api"
    )


def test_the_second_request_for_a_variant_is_a_cache_hit_at_nginx(
    edge: tuple[str, list[Node]],
) -> None:
    public, nodes = edge
    key = nodes[0].stack.key()
    with httpx.Client(
        base_url=public, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        image = upload(client, jpeg(300, 200))
        assert image["url"].startswith(f"{public}/src/")
        first = client.get(image["url"], params={"w": 90})
        second = client.get(image["url"], params={"w": 90})

    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]


def test_api_calls_reach_both_nodes(edge: tuple[str, list[Node]]) -> None:
    public, nodes = edge
    key = nodes[0].stack.key()
    before = [api_requests(node) for node in nodes]
    with httpx.Client(
        base_url=public, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        for _ in range(20):
            assert client.get("/v1/usage").status_code == 200
    after = [api_requests(node) for node in nodes]
    assert all(now > then for now, then in zip(after, before, strict=True))
    assert sum(after) - sum(before) >= 20  # plus the scrapes themselves


def test_a_forged_x_forwarded_for_does_not_escape_the_anonymous_limit(
    edge: tuple[str, list[Node]],
) -> None:
    public, _nodes = edge
    statuses = []
    for turn in range(25):  # anonymous uploads: 20 per hour per address by default
        forged = {"X-Forwarded-For": f"198.18.0.{turn}"}
        response = httpx.post(
            f"{public}/v1/images",
            files={"file": ("a.jpg", jpeg(16, 16))},
            headers=forged,
            timeout=60,
        )
        statuses.append(response.status_code)
    assert 429 in statuses  # every upload counted against the real address (nginx's peer)


def test_metrics_are_not_served_through_nginx(edge: tuple[str, list[Node]]) -> None:
    public, _nodes = edge
    response = httpx.get(f"{public}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
