"""Random public ids: 8 lowercase base-36 characters (images, users, apps, keys), shards of 3."""

from __future__ import annotations

import re

from imgpro.tokens import random_string

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 8
SHARD_LENGTH = 3
ID_PATTERN = rf"^[0-9a-z]{{{ID_LENGTH}}}$"
_ID_RE = re.compile(ID_PATTERN)
_SHARD_RE = re.compile(rf"^[0-9a-z]{{{SHARD_LENGTH}}}$")


def new_id() -> str:
    return random_string(ID_LENGTH, ALPHABET)


def new_shard() -> str:
    return random_string(SHARD_LENGTH, ALPHABET)


def is_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def is_shard(value: str) -> bool:
    return bool(_SHARD_RE.match(value))
