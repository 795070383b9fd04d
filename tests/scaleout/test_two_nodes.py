"""Two nodes (separate processes and data dirs, no shared disk) on PostgreSQL + S3 (moto) +
Redis, requests alternating between them: what one node is told, the other knows
(decisions.md §6). A focused suite: the cross-node promises, not the whole API twice."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import Node
from tests.cdn.conftest import assert_image, upload
from tests.factories import identity as idf
from tests.factories.images import jpeg
from tests.scaleout.conftest import Backends

TOKEN = "two-node-metrics"
ANONYMOUS_PER_HOUR = 3
PRO_UPLOADS = 3  # a month, in this test's plan catalogue
PLANS = f"""
[[plans]]
id = "free"
name = "Free"
monthly_uploads = 100000
storage_bytes = 10737418240

[[plans]]
id = "pro"
name = "Pro"
monthly_uploads = {PRO_UPLOADS}
storage_bytes = 10737418240
prices.monthly = {{ amount_cents = 900, currency = "usd" }}
"""


@pytest.fixture(scope="module")
def nodes(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    plans = tmp_path_factory.mktemp("plans") / "plans.toml"
    plans.write_text(PLANS)
    shared = {
        "plans_file": str(plans),
        "database_url": backends.direct_database_url,
        "storage_url": backends.s3.url(backends.s3.new_bucket()),
        "redis_url": backends.redis.url,
        "metrics_token": TOKEN,
        "anonymous_uploads_per_hour": ANONYMOUS_PER_HOUR,
    }
    pair = [Node(name, tmp_path_factory.mktemp(name), **shared) for name in ("a", "b")]
    try:
        for node in pair:  # one at a time: the first applies the migrations
            node.start()
        yield pair
    finally:
        for node in pair:
            node.stop()


def renders(node: Node) -> float:
    text = httpx.get(f"{node.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "imgpro_renders_total" and sample.labels == {"result": "ok"}
    )


def test_an_upload_on_one_node_is_served_by_the_other(nodes: list[Node]) -> None:
    a, b = nodes
    key = a.stack.key()
    image = upload(a.stack.client(key), jpeg(300, 200))
    on_b = b.stack.client(key)
    url = image["url"].replace(a.base_url, b.base_url)

    assert_image(on_b.get(url), "image/jpeg")
    assert_image(on_b.get(url, params={"w": 80}), "image/jpeg")
    assert on_b.get(f"/v1/images/{image['id']}").json()["id"] == image["id"]


def test_a_variant_is_rendered_once_across_nodes(nodes: list[Node]) -> None:
    a, b = nodes
    image = upload(a.stack.client(a.stack.key()), jpeg(640, 480))
    before = sum(renders(node) for node in nodes)
    urls = [image["url"].replace(a.base_url, node.base_url) for node in (a, b, a, b, a, b)]

    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(lambda url: httpx.get(url, params={"w": 123}, timeout=60), urls))

    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert sum(renders(node) for node in nodes) - before == 1


def test_a_delete_on_one_node_is_a_404_on_the_other_within_5_seconds(nodes: list[Node]) -> None:
    a, b = nodes
    key = a.stack.key()
    image = upload(a.stack.client(key), jpeg(200, 150))
    on_b = b.stack.client(key)
    url = image["url"].replace(a.base_url, b.base_url)
    assert on_b.get(url).status_code == 200  # b has it cached now: sidecar and bytes
    assert on_b.get(url, params={"w": 50}).status_code == 200

    assert a.stack.client(key).delete(f"/v1/images/{image['id']}").status_code in (200, 204)
    deleted_at = time.monotonic()

    while on_b.get(url).status_code != 404:
        assert time.monotonic() - deleted_at < 5, "b still serves a deleted image"
        time.sleep(0.1)
    assert on_b.get(url, params={"w": 50}).status_code == 404
    assert on_b.get(f"/v1/images/{image['id']}").status_code == 404


def test_a_web_session_from_one_node_is_signed_in_on_the_other(nodes: list[Node]) -> None:
    a, b = nodes
    email = a.stack.user().email
    on_a = a.stack.client()
    idf.sign_in(a.stack, on_a, email)
    on_b = b.stack.client()
    on_b.cookies = on_a.cookies

    dashboard = on_b.get("/dashboard")

    assert dashboard.status_code == 200
    assert email in dashboard.text


def test_anonymous_rate_limits_count_across_nodes(nodes: list[Node]) -> None:
    address = {"X-Forwarded-For": "203.0.113.77"}
    clients = [node.stack.client(**address) for node in nodes]
    statuses = [
        clients[turn % 2].post("/v1/images", files={"file": ("a.jpg", jpeg(20, 20))}).status_code
        for turn in range(ANONYMOUS_PER_HOUR + 1)
    ]
    assert statuses == [201] * ANONYMOUS_PER_HOUR + [429]


def test_usage_and_idempotency_hold_across_nodes(nodes: list[Node]) -> None:
    a, b = nodes
    key = a.stack.key()
    on_a, on_b = a.stack.client(key), b.stack.client(key)
    photo = {"file": ("a.jpg", jpeg(50, 40))}
    retry = {"Idempotency-Key": "two-nodes-once"}

    first = on_a.post("/v1/images", files=photo, headers=retry)
    again = on_b.post("/v1/images", files=photo, headers=retry)
    upload(on_b, jpeg(30, 30))

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    listed = {image["id"] for image in on_a.get("/v1/images").json()["data"]}
    assert len(listed) == 2  # the retry stored nothing
    assert on_a.get("/v1/usage").json() == on_b.get("/v1/usage").json()


def test_a_plan_quota_counts_uploads_on_every_node(nodes: list[Node]) -> None:
    a, b = nodes
    key = a.stack.key(a.stack.user("pro"))
    clients = [a.stack.client(key), b.stack.client(key)]
    statuses = [
        clients[turn % 2].post("/v1/images", files={"file": ("a.jpg", jpeg(20, 20))})
        for turn in range(PRO_UPLOADS + 1)
    ]
    assert [answer.status_code for answer in statuses] == [201] * PRO_UPLOADS + [403]
    assert statuses[-1].json()["error"]["code"] == "quota_exceeded"
