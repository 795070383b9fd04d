"""Stored digests keep their exact format: keys, sessions and codes issued before must verify."""

from __future__ import annotations

import base64

from imgpro import tokens
from imgpro.webhooks.signing import signature


def test_digest_is_hex_sha256_of_the_token() -> None:
    # FIPS 180-2 example: SHA-256("abc")
    assert tokens.digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_keyed_digest_is_hex_hmac_sha256() -> None:
    # RFC 4231 test case 2
    assert tokens.keyed_digest(b"Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_webhook_signature_is_unchanged() -> None:
    secret = "whsec_" + base64.b64encode(b"Jefe").decode()
    # base64 HMAC-SHA-256 of "msg_1.0.x" keyed with b"Jefe", computed with hmac directly
    assert signature(secret, "msg_1", 0, b"x") == "v1,od9Rt34FyekerTt9io8NicrvqQtsdo0OYsKJTydYLu4="


def test_random_strings_use_only_their_alphabet() -> None:
    value = tokens.random_string(64, tokens.BASE62)
    assert len(value) == 64 and value.isalnum() and value.isascii()
    code = tokens.numeric_code(6)
    assert len(code) == 6 and code.isdigit()


def test_same_compares_text_and_bytes() -> None:
    assert tokens.same("a", b"a") and not tokens.same("a", "b")
