"""Secrets in one place: how random tokens are made and how they are kept (digests).

Stored digests are hex SHA-256 of the token's UTF-8 bytes (plain for high-entropy tokens,
HMAC keyed with the signing key for guessable ones); changing either breaks every stored key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

BASE62 = string.digits + string.ascii_letters


def random_string(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def url_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hex_token(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


def random_bytes(nbytes: int) -> bytes:
    return secrets.token_bytes(nbytes)


def numeric_code(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def digest(token: str) -> str:
    # a fast unkeyed hash is only right for tokens with ~190+ random bits, not passwords or codes
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_digest(key: bytes, message: bytes) -> str:
    """HMAC-SHA-256 hex: for guessable values (short codes, nonces), so a leaked table or
    cookie cannot be tried offline without the key."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def keyed_mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality for secrets (a plain == leaks the matching prefix's length)."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
