"""JSON that tries to hurt the server or the data: nesting deep enough to exhaust the decoder's
recursion is a 422 (never a 500), and a PATCH field of the wrong type is a 422 that changes
nothing (false, 0, "" or [] never wipe labels or metadata)."""

from __future__ import annotations

import json

import httpx
import pytest

from imgpro.http import nests_deeper_than, parse_json
from tests.conftest import Stack
from tests.factories import images as make
from tests.images.test_images_api import upload
from tests.images.test_upload_refusals import assert_refused

ABYSS = "[" * 100_000 + "]" * 100_000


def nested(levels: int) -> dict:
    """An object nested `levels` deep: {"a": {"a": ... {}}}."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def json_request(client: httpx.Client, method: str, url: str, text: str) -> httpx.Response:
    return client.request(
        method, url, content=text.encode(), headers={"Content-Type": "application/json"}
    )


def test_deep_nesting_in_an_import_body_is_a_422(stack: Stack) -> None:
    client = stack.client(stack.key())
    for text in (
        '{"url": "https://example.com/a.jpg", "metadata": ' + ABYSS + "}",
        ABYSS,
        '{"url": "https://example.com/a.jpg", "labels": {"a": ' + ABYSS + "}}",
    ):
        response = json_request(client, "POST", "/v1/images", text)
        assert_refused(response, 422, "validation_error", "body")


def test_deep_nesting_in_a_multipart_field_is_a_422(stack: Stack) -> None:
    client = stack.client(stack.key())
    for field in ("metadata", "labels"):
        response = client.post(
            "/v1/images",
            files={"file": ("a.png", make.png(), "image/png")},
            data={field: ABYSS},
        )
        assert_refused(response, 422, "validation_error", field)


def test_deep_nesting_in_a_patch_is_a_422_and_changes_nothing(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = upload(client, metadata='{"kept": "yes"}')
    url = f"/v1/images/{image['id']}"
    response = json_request(client, "PATCH", url, '{"metadata": ' + ABYSS + "}")
    assert_refused(response, 422, "validation_error", "body")
    # deeper than a field may be, shallower than a body may be
    response = client.patch(url, json={"metadata": nested(33)})
    assert_refused(response, 422, "validation_error", "metadata")
    assert client.get(url).json()["metadata"] == {"kept": "yes"}
    # 32 levels are fine
    assert client.patch(url, json={"metadata": nested(32)}).json()["metadata"] == nested(32)


@pytest.mark.parametrize("wrong", [False, 0, "", [], "[]", True, 7, ["a"]])
def test_a_wrong_typed_patch_field_is_a_422_and_wipes_nothing(stack: Stack, wrong: object) -> None:
    client = stack.client(stack.key())
    image = upload(client, labels='{"site": "one"}', metadata='{"kept": "yes"}')
    url = f"/v1/images/{image['id']}"
    for field in ("labels", "metadata"):
        response = client.patch(url, json={field: wrong})
        assert_refused(response, 422, "validation_error", field)
    both = client.patch(url, json={"labels": wrong, "metadata": wrong})
    assert_refused(both, 422, "validation_error")
    after = client.get(url).json()
    assert after["labels"] == {"site": "one"}
    assert after["metadata"] == {"kept": "yes"}


def test_null_clears_labels_and_metadata(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = upload(client, labels='{"site": "one"}', metadata='{"kept": "yes"}')
    cleared = client.patch(f"/v1/images/{image['id']}", json={"labels": None, "metadata": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["labels"] == {} and cleared.json()["metadata"] == {}


@pytest.mark.parametrize(
    "text, depth",
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), (json.dumps(nested(40)), 40)],
)
def test_depth_is_counted_in_levels_of_arrays_and_objects(text: str, depth: int) -> None:
    value = parse_json(text)
    assert not nests_deeper_than(value, depth)
    assert nests_deeper_than(value, depth - 1) == (depth > 0)
