"""Rate-limit buckets are the test's own (conftest's `own_rate_limit_buckets`).

The two tests below run in this order against the same session-wide server and the same client
address: the first fills that address's anonymous upload bucket, the second expects it empty.
Were buckets shared between tests, the second would be refused."""

from __future__ import annotations

import httpx

from tests.conftest import Stack

ADDRESS = "192.0.2.199"  # used by no other test; shared by the two below on purpose


def _anonymous_import(stack: Stack) -> httpx.Response:
    # refused after it is counted (127.0.0.1 is no public address): a cheap hit on the bucket
    client = stack.client(**{"X-Forwarded-For": ADDRESS})
    return client.post("/v1/images", json={"url": "http://127.0.0.1/refused.jpg"})


def test_a_test_that_fills_an_address_bucket(stack: Stack) -> None:
    statuses = [
        _anonymous_import(stack).status_code
        for _ in range(stack.settings.anonymous_uploads_per_hour + 1)
    ]
    assert 429 not in statuses[:-1] and statuses[-1] == 429


def test_the_next_test_finds_that_bucket_empty(stack: Stack) -> None:
    assert _anonymous_import(stack).status_code == 422
