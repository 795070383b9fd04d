"""Random public ids: 8 lowercase base-36 characters (images, users, apps, keys), shards of 3."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 8
SHARD_LENGTH = 3
ID_PATTERN = rf"^[0-9a-z]{{{ID_LENGTH}}}$"
_ID_RE = re.compile(ID_PATTERN)
_SHARD_RE = re.compile(rf"^[0-9a-z]{{{SHARD_LENGTH}}}$")


def random_token(length: int, alphabet: str = ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_id() -> str:
    return random_token(ID_LENGTH)


def new_shard() -> str:
    return random_token(SHARD_LENGTH)


def is_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def is_shard(value: str) -> bool:
    return bool(_SHARD_RE.match(value))
