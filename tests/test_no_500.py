"""Hypothesis throws arbitrary requests at the API and finds no 500: every answer is a success
or a 4xx envelope with a catalogued code."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgpro.errors import CATALOGUE
from tests.conftest import Stack

PATHS = st.sampled_from(
    [
        "/v1/images",
        "/v1/images/batch",
        "/v1/usage",
        "/v1/images/abcdefgh",
        "/v1/images/%00",
        "/v1/images/" + "a" * 300,
        "/src/abc/abcdefgh.jpg",
        "/src/../etc/passwd",
        "/v1/",
    ]
)
METHODS = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
BODY_KEYS = st.sampled_from(["url", "ids", "caption", "labels", "metadata", "public", "file", "x"])
BODIES = st.one_of(
    st.binary(max_size=200).map(lambda b: ("application/octet-stream", b)),
    st.dictionaries(BODY_KEYS, JSON_VALUES, max_size=4).map(
        lambda d: ("application/json", json.dumps(d).encode())
    ),
    JSON_VALUES.map(lambda v: ("application/json", json.dumps(v).encode())),
    st.binary(max_size=200).map(lambda b: ("multipart/form-data; boundary=zz", b)),
)
PARAMS = st.dictionaries(
    st.sampled_from(["limit", "cursor", "ids", "label[a]", "label[]", "w", "size", "format"]),
    st.text(max_size=20),
    max_size=3,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=METHODS, path=PATHS, body=BODIES, params=PARAMS, authenticated=st.booleans())
def test_no_request_gets_a_500(
    stack: Stack,
    method: str,
    path: str,
    body: tuple[str, bytes],
    params: dict[str, str],
    authenticated: bool,
) -> None:
    key = KEYS.setdefault(stack.name, stack.key())
    headers = {"Content-Type": body[0]}
    if authenticated:
        headers["Authorization"] = f"Bearer {key}"
    with httpx.Client(
        base_url=stack.base_url, timeout=30, event_hooks={"response": [stack.contract.check]}
    ) as client:
        response = client.request(method, path, params=params, content=body[1], headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
        assert response.json()["error"]["code"] in CATALOGUE


KEYS: dict[str, str] = {}
