"""Quotas: uploads this month and bytes stored, exact under concurrency, on both databases."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from imgpro.units import GB
from tests.billing.helpers import personal_workspace_id, set_plan, set_usage, usage
from tests.conftest import Stack
from tests.factories import images as make

RACERS = 20


PNG = make.png(40, 30)


def upload(client: httpx.Client, seed: int = 0) -> httpx.Response:
    return client.post("/v1/images", files={"file": (f"a{seed}.png", PNG, "image/png")})


def assert_quota_error(response: httpx.Response, stack: Stack) -> dict:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("quota_error", "quota_exceeded")
    assert error["action"]["type"] == "upgrade" and error["action"]["label"]
    link = urlsplit(error["action"]["url"])
    assert f"{link.scheme}://{link.netloc}" == stack.settings.web_url
    assert link.path == "/upgrade" and link.query.startswith("t=")
    assert set(error["usage"]) >= {
        "plan",
        "uploads_used",
        "uploads_limit",
        "storage_used_bytes",
        "storage_limit_bytes",
    }
    return dict(error)


def race(stack: Stack, key: str, n: int = RACERS) -> tuple[list[httpx.Response], float]:
    """`n` uploads released at the same instant, each on its own connection."""
    clients = [stack.client(key) for _ in range(n)]
    start = threading.Barrier(n)

    def one(index: int) -> httpx.Response:
        start.wait()
        return upload(clients[index], seed=index)

    began = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(one, range(n)))
    return responses, time.perf_counter() - began


def test_upload_over_the_monthly_limit_is_refused_and_stores_nothing(stack: Stack) -> None:
    person = stack.user()
    client = stack.client(stack.key(person))
    set_usage(stack, personal_workspace_id(stack, person), uploads=100)
    error = assert_quota_error(upload(client), stack)
    assert error["usage"] == {
        "plan": "free",
        "uploads_used": 100,
        "uploads_limit": 100,
        "storage_used_bytes": 0,
        "storage_limit_bytes": GB,
        "images_used": 0,
        "images_limit": None,
    }
    assert "Pro" in error["action"]["label"] and "1,000 uploads" in error["action"]["label"]
    assert usage(client)["totals"]["images_stored"] == 0
    assert client.get("/v1/images").json()["data"] == []


def test_twenty_concurrent_uploads_at_the_upload_limit_never_overshoot(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    set_usage(stack, personal_workspace_id(stack, person), uploads=95)
    responses, seconds = race(stack, key)
    statuses = sorted(r.status_code for r in responses)
    print(
        f"\n[{stack.name}] upload-limit race: {statuses.count(201)} stored, "
        f"{statuses.count(403)} refused, {seconds:.2f}s"
    )
    assert statuses == [201] * 5 + [403] * 15, [r.text for r in responses if r.status_code >= 500]
    for refused in (r for r in responses if r.status_code == 403):
        assert_quota_error(refused, stack)
    after = usage(stack.client(key))
    assert after["limits"]["monthly_uploads"] == {"used": 100, "limit": 100}
    assert after["totals"]["images_stored"] == 5
    assert len(stack.client(key).get("/v1/images").json()["data"]) == 5


def test_twenty_concurrent_uploads_at_the_storage_limit_never_overshoot(stack: Stack) -> None:
    person = stack.user()
    key = stack.key(person)
    workspace_id = personal_workspace_id(stack, person)
    client = stack.client(key)
    image = upload(client).json()  # learn the stored size, then free it again
    client.delete(f"/v1/images/{image['id']}")
    room = image["bytes"] * 3 + image["bytes"] // 2  # room for three, never four
    set_usage(stack, workspace_id, uploads=0, storage_bytes=GB - room)
    responses, seconds = race(stack, key)
    statuses = sorted(r.status_code for r in responses)
    print(
        f"\n[{stack.name}] storage-limit race: {statuses.count(201)} stored, "
        f"{statuses.count(403)} refused, {seconds:.2f}s"
    )
    assert statuses == [201] * 3 + [403] * 17
    stored = sum(r.json()["bytes"] for r in responses if r.status_code == 201)
    after = usage(client)["limits"]["storage_bytes"]
    assert after == {"used": GB - room + stored, "limit": GB}
    assert after["used"] <= GB


def test_deleting_frees_storage_but_not_the_month_s_uploads(stack: Stack) -> None:
    person = stack.user()
    client = stack.client(stack.key(person))
    workspace_id = personal_workspace_id(stack, person)
    first = upload(client).json()
    set_usage(stack, workspace_id, storage_bytes=GB - 1)
    assert_quota_error(upload(client, 1), stack)
    assert client.delete(f"/v1/images/{first['id']}").status_code == 200
    after = usage(client)["limits"]
    assert after["storage_bytes"]["used"] == GB - 1 - first["bytes"]
    assert after["monthly_uploads"]["used"] == 1
    assert upload(client, 1).status_code == 201  # the freed room is usable again
    set_usage(stack, workspace_id, storage_bytes=0)
    batch = [upload(client, seed).json() for seed in (2, 3)]
    before = usage(client)["limits"]["storage_bytes"]["used"]
    response = client.request(
        "DELETE", "/v1/images/batch", json={"ids": [image["id"] for image in batch]}
    )
    assert response.status_code == 200
    after = usage(client)
    assert after["limits"]["storage_bytes"]["used"] == before - sum(i["bytes"] for i in batch)
    assert after["limits"]["monthly_uploads"]["used"] == 4
    assert after["totals"]["images_stored"] == 1


def test_a_new_month_starts_a_new_upload_count(stack: Stack) -> None:
    person = stack.user()
    client = stack.client(stack.key(person))
    set_usage(stack, personal_workspace_id(stack, person), uploads=100, period="2000-01")
    assert usage(client)["limits"]["monthly_uploads"]["used"] == 0
    assert upload(client).status_code == 201
    assert usage(client)["limits"]["monthly_uploads"]["used"] == 1


def test_a_downgrade_below_usage_refuses_uploads_and_deletes_nothing(stack: Stack) -> None:
    person = stack.user("pro")
    client = stack.client(stack.key(person))
    workspace_id = personal_workspace_id(stack, person)
    kept = [upload(client, seed).json()["id"] for seed in range(2)]
    set_usage(stack, workspace_id, uploads=500)
    assert upload(client, 9).status_code == 201
    set_plan(stack, workspace_id, "free")
    error = assert_quota_error(upload(client, 10), stack)
    assert error["usage"]["plan"] == "free" and error["usage"]["uploads_used"] == 501
    listed = {image["id"] for image in client.get("/v1/images").json()["data"]}
    assert set(kept) <= listed and len(listed) == 3
    assert all(client.get(f"/v1/images/{image_id}").status_code == 200 for image_id in kept)
    assert usage(client)["limits"]["monthly_uploads"] == {"used": 501, "limit": 100}
