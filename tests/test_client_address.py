"""Which address a request counts against: X-Forwarded-For is read from the right, past the
trusted proxies only, so a client can't buy itself a fresh rate-limit bucket per request."""

from __future__ import annotations

import secrets

import pytest

from imgpro.http import client_ip
from tests.conftest import Stack
from tests.images.test_upload_refusals import assert_refused


def scope(peer: str, *forwarded: str) -> dict:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"client": (peer, 1234), "headers": headers}


def test_a_random_leftmost_forwarded_entry_does_not_escape_the_upload_limit(
    stack: Stack,
) -> None:
    client = stack.client()
    real = f"203.0.113.{secrets.randbelow(200) + 20}"
    statuses = []
    for _ in range(stack.settings.anonymous_uploads_per_hour + 4):
        spoofed = ".".join(str(secrets.randbelow(223) + 1) for _ in range(4))
        response = client.post(
            "/v1/images",
            json={"url": "http://127.0.0.1/refused.jpg"},
            headers={"X-Forwarded-For": f"{spoofed}, {real}"},
        )
        statuses.append(response.status_code)
    assert 429 in statuses
    assert_refused(response, 429, "rate_limited")


@pytest.mark.parametrize(
    "trusted, peer, forwarded, expected",
    [
        # an untrusted peer's header is ignored
        ([], "203.0.113.9", ["1.2.3.4"], "203.0.113.9"),
        (["10.0.0.1"], "203.0.113.9", ["1.2.3.4"], "203.0.113.9"),
        # the entry our proxy appended wins over what the client wrote before it
        (["10.0.0.1"], "10.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
        # a chain of trusted proxies, given as a network, is walked past
        (["10.0.0.0/8"], "10.0.0.1", ["6.6.6.6, 198.51.100.7, 10.2.3.4"], "198.51.100.7"),
        # several headers read as one list, in order
        (["10.0.0.0/8"], "10.9.9.9", ["6.6.6.6", "198.51.100.7, 10.1.1.1"], "198.51.100.7"),
        # IPv6 proxies and clients
        (["2001:db8::/32"], "2001:db8::1", ["6.6.6.6, 2001:db9::5"], "2001:db9::5"),
        # garbage is untrusted and is the answer (a bucket of its own, not a bypass)
        (["10.0.0.1"], "10.0.0.1", ["6.6.6.6, nonsense"], "nonsense"),
        # every hop trusted: the leftmost is the best we know
        (["10.0.0.0/8"], "10.0.0.1", ["10.0.0.2, 10.0.0.3"], "10.0.0.2"),
        # a trusted proxy that sent no header is itself the client
        (["10.0.0.1"], "10.0.0.1", [], "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", [" , "], "10.0.0.1"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_forwarded_address(
    trusted: list[str], peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_ip(scope(peer, *forwarded), trusted) == expected
