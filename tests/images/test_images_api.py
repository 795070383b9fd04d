"""The Image API's behaviour over HTTP: listing, filters, updates, batch, idempotency, limits."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import Stack
from tests.factories import images as make
from tests.images.test_upload_refusals import assert_refused, stored_count


def upload(client: httpx.Client, **data: str) -> dict:
    response = client.post(
        "/v1/images", files={"file": ("a.png", make.png(40, 30), "image/png")}, data=data
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_anonymous_upload_is_public_and_expires_in_30_days(stack: Stack) -> None:
    client = stack.client()
    image = upload(client)
    assert image["public"] is True
    expires = datetime.fromisoformat(image["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert client.get(image["url"]).status_code == 200


def test_anonymous_uploads_are_rate_limited_per_address(stack: Stack) -> None:
    client = stack.client(**{"X-Forwarded-For": "203.0.113.77"})
    limit = stack.settings.anonymous_uploads_per_hour
    for _ in range(limit):
        client.post("/v1/images", json={"url": "http://127.0.0.1/refused.jpg"})
    response = client.post("/v1/images", files={"file": ("a.png", make.png(), "image/png")})
    error = assert_refused(response, 429, "rate_limited")
    assert error["type"] == "rate_limit_error"
    assert error["action"]["type"] == "wait"
    assert int(response.headers["Retry-After"]) == error["action"]["retry_after"] > 0
    # another address is not affected
    other = stack.client(**{"X-Forwarded-For": "203.0.113.78"})
    assert other.post("/v1/images", files={"file": ("a.png", make.png(), "image/png")}).is_success


def test_list_paginates_newest_first_without_gaps(stack: Stack) -> None:
    client = stack.client(stack.key())
    made = [upload(client)["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/images", params=params).json()
        assert page["object"] == "list"
        seen += [image["id"] for image in page["data"]]
        if not page["pagination"]["has_more"]:
            assert page["pagination"]["next_cursor"] is None
            break
        cursor = page["pagination"]["next_cursor"]
    assert seen == list(reversed(made))


def test_list_filters_by_labels_and_ids(stack: Stack) -> None:
    client = stack.client(stack.key())
    a = upload(client, labels='{"site": "one", "kind": "hero"}')
    b = upload(client, labels='{"site": "one"}')
    upload(client, labels='{"site": "two"}')

    def ids(**params: str) -> list[str]:
        return [i["id"] for i in client.get("/v1/images", params=params).json()["data"]]

    assert set(ids(**{"label[site]": "one"})) == {a["id"], b["id"]}
    assert ids(**{"label[site]": "one", "label[kind]": "hero"}) == [a["id"]]
    assert ids(**{"label[site]": "three"}) == []
    assert set(ids(ids=f"{a['id']},{b['id']},zzzzzzzz")) == {a["id"], b["id"]}


def test_ids_of_another_workspace_are_left_out_and_404(stack: Stack) -> None:
    mine = stack.client(stack.key())
    theirs = stack.client(stack.key())
    their_image = upload(theirs, caption="private matter")
    assert mine.get("/v1/images", params={"ids": their_image["id"]}).json()["data"] == []
    for response in (
        mine.get(f"/v1/images/{their_image['id']}"),
        mine.patch(f"/v1/images/{their_image['id']}", json={"caption": "mine now"}),
        mine.delete(f"/v1/images/{their_image['id']}"),
    ):
        error = assert_refused(response, 404, "not_found")
        assert "private matter" not in response.text
        assert error["type"] == "invalid_request_error"
    batch = mine.request("DELETE", "/v1/images/batch", json={"ids": [their_image["id"]]})
    assert batch.status_code == 200
    assert theirs.get(f"/v1/images/{their_image['id']}").json()["caption"] == "private matter"
    assert theirs.get(their_image["url"]).status_code == 200


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "YzE6MTIzOmFiYw"}, "cursor"),
        ({"ids": ",".join(["abcdefgh"] * 51)}, "ids"),
        ({"ids": "ABC"}, "ids"),
        ({"label[]": "x"}, "labels"),
        ({"label[a]": "x\x00y"}, "labels"),
        ({"limit": "²"}, "limit"),
    ],
)
def test_bad_list_parameters(stack: Stack, params: dict[str, str], field: str) -> None:
    client = stack.client(stack.key())
    assert_refused(client.get("/v1/images", params=params), 422, "validation_error", field)


def test_patch_changes_fields_and_refuses_bad_ones(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = upload(client)
    path = f"/v1/images/{image['id']}"
    changed = client.patch(
        path, json={"caption": "New", "labels": {"a": "b"}, "metadata": {"x": 1}, "public": False}
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["caption"], body["labels"], body["metadata"], body["public"]) == (
        "New",
        {"a": "b"},
        {"x": 1},
        False,
    )
    for bad, field in [
        ({"caption": "x" * 2001}, "caption"),
        ({"owner": "me"}, "owner"),
        ({"public": "yes"}, "public"),
        ({"labels": {str(i): "v" for i in range(21)}}, "labels"),
        ([1, 2], "body"),
    ]:
        assert_refused(client.patch(path, json=bad), 422, "validation_error", field)
    assert client.get(path).json() == body
    assert client.patch(path, json={"caption": None}).json()["caption"] is None


def test_batch_delete(stack: Stack) -> None:
    client = stack.client(stack.key())
    images = [upload(client) for _ in range(3)]
    ids = [image["id"] for image in images]
    response = client.request("DELETE", "/v1/images/batch", json={"ids": ids[:2] + ["gone0000"]})
    assert response.status_code == 200
    result = response.json()
    assert result["object"] == "batch_result" and result["errors"] == []
    assert {item["id"] for item in result["data"]} == {*ids[:2], "gone0000"}
    assert [i["id"] for i in client.get("/v1/images").json()["data"]] == [ids[2]]
    assert client.get(images[0]["url"]).status_code == 404
    for bad in ({"ids": []}, {"ids": ["abcdefgh"] * 101}, {"ids": "abc"}, {"ids": ["BAD!"]}, {}):
        assert_refused(
            client.request("DELETE", "/v1/images/batch", json=bad), 422, "validation_error", "ids"
        )


def test_usage_counts_uploads_and_storage(stack: Stack) -> None:
    client = stack.client(stack.key())
    first = client.get("/v1/usage").json()
    assert first["object"] == "usage" and first["plan"] == "free"
    assert first["limits"]["monthly_uploads"] == {"used": 0, "limit": 100}
    image = upload(client)
    after = client.get("/v1/usage").json()
    assert after["limits"]["monthly_uploads"]["used"] == 1
    assert after["limits"]["storage_bytes"]["used"] == image["bytes"]
    assert after["limits"]["images"] == {"used": 1, "limit": None}
    assert after["totals"] == {"images_stored": 1}
    client.delete(f"/v1/images/{image['id']}")
    assert client.get("/v1/usage").json()["limits"]["storage_bytes"]["used"] == 0


def test_idempotency_key_replays_the_first_response(stack: Stack) -> None:
    client = stack.client(stack.key())
    files = {"file": ("a.png", make.png(40, 30), "image/png")}
    first = client.post("/v1/images", files=files, headers={"Idempotency-Key": "k1"})
    again = client.post("/v1/images", files=files, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert stored_count(client) == 1
    other = {"file": ("a.png", make.png(41, 30), "image/png")}
    conflict = client.post("/v1/images", files=other, headers={"Idempotency-Key": "k1"})
    error = assert_refused(conflict, 409, "idempotency_key_conflict")
    assert error["type"] == "idempotency_error"
    assert stored_count(client) == 1


def test_idempotency_key_is_per_credential(stack: Stack) -> None:
    a, b = stack.client(stack.key()), stack.client(stack.key())
    files = {"file": ("a.png", make.png(40, 30), "image/png")}
    one = a.post("/v1/images", files=files, headers={"Idempotency-Key": "shared"}).json()
    two = b.post("/v1/images", files=files, headers={"Idempotency-Key": "shared"}).json()
    assert one["id"] != two["id"]


def test_concurrent_requests_with_one_key_create_one_image(stack: Stack) -> None:
    key = stack.key()
    files = {"file": ("a.jpg", make.jpeg(1600, 1200), "image/jpeg")}

    def post() -> httpx.Response:
        with httpx.Client(
            base_url=stack.base_url, timeout=60, event_hooks={"response": [stack.contract.check]}
        ) as client:
            return client.post(
                "/v1/images",
                files=files,
                headers={"Idempotency-Key": "race", "Authorization": f"Bearer {key}"},
            )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(), range(4)))
    codes = {r.json().get("error", {}).get("code") for r in responses if r.status_code != 201}
    assert codes <= {"idempotency_key_in_progress"}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert stored_count(stack.client(key)) == 1


def test_a_failed_request_releases_its_idempotency_key(stack: Stack) -> None:
    client = stack.client(stack.key())
    bad = client.post(
        "/v1/images",
        files={"file": ("a.jpg", b"nope", "image/jpeg")},
        headers={"Idempotency-Key": "retry-me"},
    )
    assert bad.status_code == 422
    good = client.post(
        "/v1/images",
        files={"file": ("a.jpg", b"nope", "image/jpeg")},
        headers={"Idempotency-Key": "retry-me"},
    )
    assert good.status_code == 422  # same failure again, not a stuck "in progress"


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/v1/nothing"), ("PUT", "/v1/images"), ("POST", "/v1/usage"), ("GET", "/src/x")],
)
def test_unknown_routes_and_methods_answer_the_envelope(
    stack: Stack, method: str, path: str
) -> None:
    response = stack.client(stack.key()).request(method, path)
    assert response.status_code in (404, 405)
    assert response.json()["error"]["code"] in ("not_found", "method_not_allowed")
    assert response.headers["x-request-id"]


def test_nul_characters_are_refused_not_stored(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = upload(client)
    path = f"/v1/images/{image['id']}"
    for bad, field in [
        ({"caption": "a\x00b"}, "caption"),
        ({"labels": {"k": "v\x00"}}, "labels"),
        ({"metadata": {"deep": [{"x": "\x00"}]}}, "metadata"),
        ({"metadata": {"k\x00": 1}}, "metadata"),
    ]:
        assert_refused(client.patch(path, json=bad), 422, "validation_error", field)
    assert client.get(path).json() == image
    assert_refused(client.get("/v1/images/%00"), 404, "not_found")
    assert_refused(client.delete("/v1/images/abc%00defg"), 404, "not_found")


def test_expired_images_vanish_and_the_sweep_deletes_them(stack: Stack) -> None:
    from sqlalchemy import update

    from imgpro.images import service as images_service
    from imgpro.images.tables import Image

    image = upload(stack.client())
    keeper = upload(stack.client())

    async def expire(rt):  # type: ignore[no-untyped-def]
        async with rt.sessions() as db:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await db.execute(update(Image).where(Image.id == image["id"]).values(expires_at=past))
            await db.commit()

    stack.run(expire)

    async def sweep(rt):  # type: ignore[no-untyped-def]
        async with rt.sessions() as db:
            return await images_service.sweep_expired(db, rt.blobs)

    assert stack.run(sweep) >= 1
    client = stack.client()
    assert client.get(image["url"]).status_code == 404
    assert client.get(image["page_url"]).status_code == 404
    assert client.get(keeper["url"]).status_code == 200
    shard = image["url"].rsplit("/", 2)[-2]
    assert not (stack.settings.data_dir / "blobs" / shard / image["id"]).exists()
